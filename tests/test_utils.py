"""deployer.utils: shell escaping (property tests against real bash), indent, ifconfig parsing."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deployer.utils import IfConfig, NetworkInterface, esc1, esc2, indent, parse_ifconfig_output

pytestmark = pytest.mark.timeout(120)

# Any text except NUL (which no argv or shell string can hold) and lone surrogates
# (not encodable); shell-special characters are drawn often on purpose.
SHELL_SPECIAL = "'\"$`!\\\n\t *?[]{}()<>|&;#~%^-=\r"
shell_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(SHELL_SPECIAL),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=40,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NASTY = ["Here's some text", "'", "''", '"', "!", "!!", "a!b", "$(id)", "`id`", "$HOME", "\\", "\\'", "\n",
         "a\nb\n", "-n", "-e \\n", "%s%d", "", " ", "é€😀", "\\$", "!$", "'\"'\"'"]


def bash(script: str, interactive: bool = False) -> bytes:
    """Run script in a fresh bash; an interactive one also does history (``!``) expansion."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HISTFILE": "/dev/null", "LC_ALL": "C.UTF-8"}
    if interactive:
        proc = subprocess.run(["bash", "--norc", "--noprofile", "-i"], input=script.encode() + b"\n",
                              capture_output=True, env=env, timeout=20)
    else:
        proc = subprocess.run(["bash", "-c", script], capture_output=True, env=env, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def with_examples(test):
    for s in NASTY:
        test = example(s)(test)
    return test


@SETTINGS
@given(shell_text)
@with_examples
def test_esc1_round_trips_through_bash_single_quotes(s: str) -> None:
    assert bash("printf %%s '%s'" % esc1(s)) == s.encode()


@SETTINGS
@given(shell_text)
@with_examples
def test_esc1_round_trips_through_echo(s: str) -> None:
    # echo takes a leading "-n"/"-e" as an option: that is echo's quirk, not escaping.
    if s.startswith("-"):
        s = "x" + s
    assert bash("echo '%s'" % esc1(s)) == s.encode() + b"\n"


@SETTINGS
@given(shell_text)
@with_examples
def test_esc2_round_trips_through_bash_double_quotes(s: str) -> None:
    assert bash('printf -- %%s "%s"' % esc2(s)) == s.encode()


# An interactive bash edits its input line (control characters, carriage returns):
# that is typing, not quoting, so these strings hold no control characters but newline.
typed_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(SHELL_SPECIAL.replace("\r", "").replace("\t", "")),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_text)
@with_examples
def test_escaping_survives_interactive_bash_history_expansion(s: str) -> None:
    # "!" inside double quotes is expanded by an interactive bash: esc2 must prevent it.
    assert bash('printf -- %%s "%s"' % esc2(s), interactive=True) == s.encode()
    # A line that starts with "^" is quick substitution in an interactive bash, which no
    # quoting stops; deployer runs commands non-interactively (tested above), where it
    # has no meaning. So esc1 is held to interactive bash only for the other strings.
    if "\n^" not in s and not s.startswith("^"):
        assert bash("printf %%s '%s'" % esc1(s), interactive=True) == s.encode()


def test_esc1_documented_example() -> None:
    assert "echo '%s'" % esc1("Here's some text") == "echo 'Here'\\''s some text'"
    assert bash("echo '%s'" % esc1("Here's some text")) == b"Here's some text\n"


def test_esc1_leaves_no_command_substitution() -> None:
    assert bash("printf %%s '%s'" % esc1("'; echo pwned; '")) == b"'; echo pwned; '"
    assert bash('printf %%s "%s"' % esc2('"; echo pwned; "$(echo pwned)`echo pwned`')) == \
        b'"; echo pwned; "$(echo pwned)`echo pwned`'


def test_indent() -> None:
    assert indent("a\nb") == "    a\n    b"
    assert indent("a\nb\n", prefix="> ") == "> a\n> b\n"
    assert indent("") == ""
    assert indent("one") == "    one"
    assert indent("a\n\nb", prefix="-") == "-a\n-\n-b"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=50),
       st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=4))
def test_indent_prefixes_every_line_and_keeps_content(s: str, prefix: str) -> None:
    out = indent(s, prefix)
    out_lines = out.splitlines(True)
    assert len(out_lines) == len(s.splitlines(True))
    assert all(line.startswith(prefix) for line in out_lines)
    assert "".join(line[len(prefix):] for line in out_lines) == s


# --- ifconfig / ip addr parsing ---------------------------------------------

# net-tools up to 1.60 (Debian < 9, Ubuntu < 18.04, CentOS 6).
OLD_IFCONFIG = """\
eth0      Link encap:Ethernet  HWaddr 00:16:3E:5E:6C:00  
          inet addr:192.168.1.10  Bcast:192.168.1.255  Mask:255.255.255.0
          inet6 addr: fe80::216:3eff:fe5e:6c00/64 Scope:Link
          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1
          RX packets:34412 errors:0 dropped:0 overruns:0 frame:0
          TX packets:24876 errors:0 dropped:0 overruns:0 carrier:0
          collisions:0 txqueuelen:1000 
          RX bytes:30226488 (30.2 MB)  TX bytes:2798372 (2.7 MB)
          Interrupt:16 

eth0:1    Link encap:Ethernet  HWaddr 00:16:3E:5E:6C:00  
          inet addr:10.0.0.5  Bcast:10.0.0.255  Mask:255.255.255.0
          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1

eth1      Link encap:Ethernet  HWaddr 00:16:3e:5e:6c:01  
          BROADCAST MULTICAST  MTU:1500  Metric:1
          RX packets:0 errors:0 dropped:0 overruns:0 frame:0
          TX packets:0 errors:0 dropped:0 overruns:0 carrier:0
          collisions:0 txqueuelen:1000 
          RX bytes:0 (0.0 B)  TX bytes:0 (0.0 B)

lo        Link encap:Local Loopback  
          inet addr:127.0.0.1  Mask:255.0.0.0
          inet6 addr: ::1/128 Scope:Host
          UP LOOPBACK RUNNING  MTU:16436  Metric:1
          RX packets:1084 errors:0 dropped:0 overruns:0 frame:0
          TX packets:1084 errors:0 dropped:0 overruns:0 carrier:0
          collisions:0 txqueuelen:0 
          RX bytes:98072 (98.0 KB)  TX bytes:98072 (98.0 KB)
"""

# net-tools 2.10 (Debian 9+, Ubuntu 18.04+), with a down interface.
NEW_IFCONFIG = """\
docker0: flags=4099<UP,BROADCAST,MULTICAST>  mtu 1500
        inet 172.17.0.1  netmask 255.255.0.0  broadcast 172.17.255.255
        ether 02:42:8a:3c:11:9e  txqueuelen 0  (Ethernet)
        RX packets 0  bytes 0 (0.0 B)
        TX packets 0  bytes 0 (0.0 B)

enp0s3: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500
        inet 10.0.2.15  netmask 255.255.255.0  broadcast 10.0.2.255
        inet6 fe80::a00:27ff:fe4e:66a1  prefixlen 64  scopeid 0x20<link>
        ether 08:00:27:4e:66:a1  txqueuelen 1000  (Ethernet)
        RX packets 128  bytes 18756 (18.7 KB)
        RX errors 0  dropped 0  overruns 0  frame 0
        TX packets 122  bytes 13546 (13.5 KB)
        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0

enp0s8: flags=4098<BROADCAST,MULTICAST>  mtu 1500
        ether 08:00:27:aa:bb:cc  txqueuelen 1000  (Ethernet)

lo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536
        inet 127.0.0.1  netmask 255.0.0.0
        inet6 ::1  prefixlen 128  scopeid 0x10<host>
        loop  txqueuelen 1000  (Local Loopback)
"""

# FreeBSD / macOS ifconfig.
BSD_IFCONFIG = """\
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tether a4:83:e7:12:34:56
\tinet6 fe80::1c8e:7d2f:aaaa:bbbb%en0 prefixlen 64 secured scopeid 0x4
\tinet 192.168.178.23 netmask 0xffffff00 broadcast 192.168.178.255
\tstatus: active
"""

# iproute2 `ip addr`, with a veth peer name and a labelled secondary address.
IP_ADDR = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host 
       valid_lft forever preferred_lft forever
2: ens3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000
    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff
    altname enp0s3
    inet 203.0.113.7/24 brd 203.0.113.255 scope global dynamic ens3
       valid_lft 86162sec preferred_lft 86162sec
    inet 203.0.113.8/24 scope global secondary ens3:1
       valid_lft forever preferred_lft forever
    inet6 2001:db8::7/64 scope global 
       valid_lft forever preferred_lft forever
    inet6 fe80::5054:ff:fe12:3456/64 scope link 
       valid_lft forever preferred_lft forever
3: eth0@if12: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default
    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0
    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0
       valid_lft forever preferred_lft forever
4: wlan0: <NO-CARRIER,BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default qlen 1000
    link/ether 3c:a9:f4:00:11:22 brd ff:ff:ff:ff:ff:ff
"""


def test_old_net_tools_ifconfig() -> None:
    config = parse_ifconfig_output(OLD_IFCONFIG)
    assert [i.name for i in config.interfaces] == ["eth0", "eth0:1", "lo"]  # eth1 is down
    eth0 = config.get_interface("eth0")
    assert (eth0.ip, eth0.netmask, eth0.mac, eth0.is_up) == ("192.168.1.10", "255.255.255.0", "00:16:3e:5e:6c:00", True)
    assert eth0.ip6 == "fe80::216:3eff:fe5e:6c00"
    assert config.get_interface("eth0:1").ip == "10.0.0.5"
    assert config.get_interface("lo").ip6 == "::1"
    assert config.get_address("127.0.0.1").name == "lo"
    everything = parse_ifconfig_output(OLD_IFCONFIG, only_active_interfaces=False)
    eth1 = everything.get_interface("eth1")
    assert (eth1.ip, eth1.is_up, eth1.mac) == (None, False, "00:16:3e:5e:6c:01")


def test_new_net_tools_ifconfig() -> None:
    config = parse_ifconfig_output(NEW_IFCONFIG)
    assert [i.name for i in config.interfaces] == ["docker0", "enp0s3", "lo"]
    enp = config.get_interface("enp0s3")
    assert (enp.ip, enp.netmask, enp.ip6, enp.mac) == ("10.0.2.15", "255.255.255.0", "fe80::a00:27ff:fe4e:66a1", "08:00:27:4e:66:a1")
    assert config.get_address("172.17.0.1").name == "docker0"
    assert config.get_address("::1").name == "lo"
    assert parse_ifconfig_output(NEW_IFCONFIG, only_active_interfaces=False).get_interface("enp0s8").is_up is False


def test_bsd_ifconfig() -> None:
    config = parse_ifconfig_output(BSD_IFCONFIG)
    lo0, en0 = config.interfaces
    assert (lo0.name, lo0.ip, lo0.netmask, lo0.ip6s) == ("lo0", "127.0.0.1", "255.0.0.0", ["::1", "fe80::1"])
    assert (en0.name, en0.ip, en0.netmask, en0.mac) == ("en0", "192.168.178.23", "255.255.255.0", "a4:83:e7:12:34:56")


def test_ip_addr() -> None:
    config = parse_ifconfig_output(IP_ADDR)
    assert [i.name for i in config.interfaces] == ["lo", "ens3", "eth0"]  # wlan0 is down
    ens3 = config.get_interface("ens3")
    assert ens3.ips == ["203.0.113.7", "203.0.113.8"]
    assert (ens3.netmask, ens3.ip6, ens3.mac) == ("255.255.255.0", "2001:db8::7", "52:54:00:12:34:56")
    assert config.get_address("203.0.113.8") is ens3
    assert config.get_interface("eth0").ip == "172.17.0.2"
    assert config.get_interface("lo").netmask == "255.0.0.0"
    wlan = parse_ifconfig_output(IP_ADDR, only_active_interfaces=False).get_interface("wlan0")
    assert (wlan.ip, wlan.is_up, wlan.mac) == (None, False, "3c:a9:f4:00:11:22")


def test_missing_interface_or_address_raises_attribute_error() -> None:
    config = parse_ifconfig_output(IP_ADDR)
    with pytest.raises(AttributeError, match="wlan0"):
        config.get_interface("wlan0")
    with pytest.raises(AttributeError, match="10.9.9.9"):
        config.get_address("10.9.9.9")
    assert parse_ifconfig_output("").interfaces == []


def test_crlf_output_from_a_pty() -> None:
    config = parse_ifconfig_output(NEW_IFCONFIG.replace("\n", "\r\n"))
    assert config.get_interface("lo").ip == "127.0.0.1"
    assert config.get_interface("enp0s3").mac == "08:00:27:4e:66:a1"


def test_network_interface_defaults() -> None:
    interface = NetworkInterface()
    assert (interface.name, interface.ip, interface.ip6, interface.mac, interface.is_up) == ("eth0", None, None, None, False)
    assert IfConfig().interfaces == []


def _real(command: list[str]) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_real_ip_addr_on_this_machine() -> None:
    assert shutil.which("ip"), "iproute2 (ip) is needed for this test"
    config = parse_ifconfig_output(_real(["ip", "addr"]))
    lo = config.get_interface("lo")
    assert lo.ip == "127.0.0.1" and lo.is_up
    assert config.get_address("127.0.0.1") is lo
    # Every IPv4 address the kernel reports (ip -o -4) is found, on the right interface.
    for line in _real(["ip", "-o", "-4", "addr"]).splitlines():
        fields = line.split()
        name, address = fields[1].split("@")[0], fields[3].split("/")[0]
        assert config.get_address(address).name == name


def test_real_ifconfig_on_this_machine_agrees_with_ip_addr() -> None:
    if shutil.which("ifconfig") is None and not os.path.exists("/sbin/ifconfig"):
        pytest.fail("net-tools (ifconfig) is needed for this test: install net-tools")
    ifconfig = parse_ifconfig_output(_real([shutil.which("ifconfig") or "/sbin/ifconfig", "-a"]))
    ip = parse_ifconfig_output(_real(["ip", "addr"]))
    summary = lambda c: sorted((i.name, tuple(i.ips), i.mac) for i in c.interfaces)  # noqa: E731
    assert summary(ifconfig) == summary(ip)
