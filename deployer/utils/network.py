"""Parse network settings from ``ifconfig`` or ``ip addr`` output::

    ifconfig = parse_ifconfig_output(host.run('ifconfig'))
    interface = ifconfig.get_interface('eth0')
    print(interface.ip)

Understood formats: classic net-tools (``inet addr:1.2.3.4  Mask:…``), newer
net-tools and BSD (``eth0: flags=…<UP,…>`` / ``inet 1.2.3.4  netmask …``) and
iproute2 (``ip addr``: ``2: eth0: <…,UP,…>`` / ``inet 1.2.3.4/24 …``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["parse_ifconfig_output", "IfConfig", "NetworkInterface"]


@dataclass
class NetworkInterface:
    """Information about a single network interface.

    ``ip``/``ip6`` are the first IPv4/IPv6 address (``None`` when there is none);
    ``ips``/``ip6s`` hold all of them. ``mac`` is the hardware address if shown.
    """

    name: str = "eth0"
    ips: list[str] = field(default_factory=list)
    ip6s: list[str] = field(default_factory=list)
    netmask: str | None = None
    mac: str | None = None
    is_up: bool = False

    @property
    def ip(self) -> str | None:
        return self.ips[0] if self.ips else None

    @property
    def ip6(self) -> str | None:
        return self.ip6s[0] if self.ip6s else None

    @property
    def is_active(self) -> bool:
        """Up and holding at least one address."""
        return self.is_up and bool(self.ips or self.ip6s)

    def __repr__(self) -> str:
        return f"NetworkInterface(name={self.name!r}, ip={self.ip!r}, ip6={self.ip6!r}, mac={self.mac!r}, is_up={self.is_up})"


class IfConfig:
    """Container for the network settings found by ifconfig: a list of :class:`NetworkInterface`."""

    def __init__(self, interfaces: list[NetworkInterface] | None = None) -> None:
        self.interfaces: list[NetworkInterface] = list(interfaces or [])

    def get_interface(self, name: str) -> NetworkInterface:
        """The interface with this name (e.g. ``"eth0"``), or raise AttributeError."""
        for interface in self.interfaces:
            if interface.name == name:
                return interface
        raise AttributeError(f"no network interface named {name!r}")

    def get_address(self, ip: str) -> NetworkInterface:
        """The interface holding this IP address (e.g. ``"127.0.0.1"``), or raise AttributeError."""
        for interface in self.interfaces:
            if ip in interface.ips or ip in interface.ip6s:
                return interface
        raise AttributeError(f"no network interface with address {ip!r}")

    def __repr__(self) -> str:
        return f"IfConfig({self.interfaces!r})"


# Block headers, one per interface; lines indented below belong to it.
_IP_HEADER = re.compile(r"^\d+:\s+(?P<name>[^\s:@]+)(?:@\S+?)?:\s+<(?P<flags>[^>]*)>")
_IFCONFIG_HEADER = re.compile(r"^(?P<name>\S+?):\s+flags=\S*?<(?P<flags>[^>]*)>")
_OLD_HEADER = re.compile(r"^(?P<name>\S+?):?(?:\s+(?P<rest>.*))?$")

_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_INET = re.compile(rf"\binet\s+(?:addr:\s*)?(?P<ip>{_IPV4})(?:/(?P<prefix>\d+))?")
_INET6 = re.compile(r"\binet6\s+(?:addr:\s*)?(?P<ip>[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:%\S+?)?(?:/\d+)?(?=\s|$)")
_NETMASK = re.compile(rf"(?:\bMask:|\bnetmask\s+)(?P<mask>{_IPV4}|0x[0-9a-fA-F]{{8}})")
_MAC = re.compile(r"(?:\bHWaddr\s+|\blink/ether\s+|\bether\s+)(?P<mac>[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\b")
_OLD_FLAGS = re.compile(r"^\s+(?P<flags>(?:[A-Z]+\s+)+)MTU:")


def _prefix_to_netmask(prefix: int) -> str:
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF if prefix else 0
    return ".".join(str((bits >> s) & 0xFF) for s in (24, 16, 8, 0))


def _hex_to_netmask(mask: str) -> str:
    value = int(mask, 16)
    return ".".join(str((value >> s) & 0xFF) for s in (24, 16, 8, 0))


def _split_blocks(output: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in output.splitlines():
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if line[0].isspace():
            if blocks:
                blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def _parse_block(lines: list[str]) -> NetworkInterface:
    header = lines[0]
    m = _IP_HEADER.match(header) or _IFCONFIG_HEADER.match(header)
    if m:
        interface = NetworkInterface(m.group("name"))
        interface.is_up = "UP" in m.group("flags").split(",")
    else:
        interface = NetworkInterface(_OLD_HEADER.match(header).group("name"))
    for line in lines:
        # ip addr prints secondary addresses with a label ("eth0:1"): same interface here.
        for found in _INET.finditer(line):
            interface.ips.append(found.group("ip"))
            if found.group("prefix") and interface.netmask is None:
                interface.netmask = _prefix_to_netmask(int(found.group("prefix")))
        for found in _INET6.finditer(line):
            interface.ip6s.append(found.group("ip"))
        mask = _NETMASK.search(line)
        if mask and interface.netmask is None:
            value = mask.group("mask")
            interface.netmask = _hex_to_netmask(value) if value.startswith("0x") else value
        mac = _MAC.search(line)
        if mac and interface.mac is None:
            interface.mac = mac.group("mac").lower()
        old_flags = _OLD_FLAGS.match(line)
        if old_flags and not m:
            interface.is_up = "UP" in old_flags.group("flags").split()
    return interface


def parse_ifconfig_output(output: str, only_active_interfaces: bool = True) -> IfConfig:
    """Parse the output of ``ifconfig`` (or ``ip addr``) into an :class:`IfConfig`.

    With ``only_active_interfaces``, interfaces that are down or have no
    address are left out.
    """
    interfaces = [_parse_block(block) for block in _split_blocks(output)]
    if only_active_interfaces:
        interfaces = [i for i in interfaces if i.is_active]
    return IfConfig(interfaces)
