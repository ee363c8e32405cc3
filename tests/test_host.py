"""One host suite, run against both transports: LocalHost and SSHHost (on the loopback sshd bed)."""
from __future__ import annotations

import os
import posixpath
import signal
import threading

import pytest

from deployer.exceptions import ExecCommandFailed
from deployer.host import Host, HostContext, LocalHost, SSHHost, Stat
from deployer.loggers.events import CommandFinished, CommandOutput, CommandStarted, FileTransferred
from deployer.pseudo_terminal import DummyPty
from tests.host_helpers import RealPty, Recorder

pytestmark = pytest.mark.timeout(60)

_ssh_classes: dict = {}


@pytest.fixture(params=["local", "ssh"])
def host_class(request) -> type[Host]:
    if request.param == "local":
        return LocalHost
    bed = request.getfixturevalue("ssh_bed")
    # One class per bed: the suite shares one cached connection, as real use does.
    if id(bed) not in _ssh_classes:
        _ssh_classes[id(bed)] = bed.host_class(0)
    return _ssh_classes[id(bed)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def host(host_class, recorder) -> Host:
    return host_class(pty=DummyPty(), logger=recorder)


@pytest.fixture
def workdir(host):
    """A fresh directory on the host, owned by the login user, removed afterwards."""
    path = host.run("mktemp -d", interactive=False).strip()
    assert path.startswith("/")
    yield path
    host.sudo("rm -rf -- '%s'" % path, interactive=False)


# -- run / sudo ------------------------------------------------------------------

def test_run_returns_output_in_both_modes_and_streams_to_pty(host) -> None:
    assert host.run("echo hello; echo oops >&2", interactive=False) == "hello\noops\n"
    out = host.run("echo hello; test -t 0 && echo tty")
    assert out.replace("\r\n", "\n") == "hello\ntty\n"
    assert "hello" in host.pty.get_output()


def test_non_interactive_has_no_pty_and_stdin_at_eof(host) -> None:
    # `cat` would hang forever if stdin were left open.
    assert host.run("test -t 0 || echo notty; cat; echo done", interactive=False, timeout=10) == "notty\ndone\n"


def test_silent_writes_nothing_to_pty(host) -> None:
    assert host.run("echo quiet", silent=True, interactive=False) == "quiet\n"
    assert host.pty.get_output() == ""


def test_exit_status_raises_exec_command_failed(host) -> None:
    with pytest.raises(ExecCommandFailed) as info:
        host.run("echo some output; exit 3", interactive=False)
    e = info.value
    assert e.status_code == 3 and e.command == "echo some output; exit 3" and e.use_sudo is False
    assert "some output" in e.result
    assert host.slug in str(e) and "exit 3" in str(e)


def test_ignore_exit_status(host) -> None:
    assert host.run("echo out; false", ignore_exit_status=True, interactive=False) == "out\n"


def test_sudo_runs_as_root(host) -> None:
    assert host.sudo("whoami", interactive=False).strip() == "root"
    assert host.sudo("whoami").strip() == "root"
    with pytest.raises(ExecCommandFailed) as info:
        host.sudo("exit 4", interactive=False)
    assert info.value.use_sudo and info.value.status_code == 4


def test_run_as_other_user(host) -> None:
    assert host.run("whoami", user="nobody", interactive=False).strip() == "nobody"
    assert host.run("whoami", user="nobody", interactive=True).strip() == "nobody"


def test_sudo_keeps_stdin_for_initial_input(host) -> None:
    out = host.sudo("read line; echo \"got:$line\"; whoami", initial_input="abc\n")
    assert "got:abc" in out and "root" in out


# -- context -----------------------------------------------------------------------

def test_cd_nests_and_escapes(host, workdir) -> None:
    odd = "it's a \"dir\" $HOME `x`"
    host.run("mkdir -p -- %s/%s/sub" % (workdir, "'%s'" % odd.replace("'", "'\\''")), interactive=False)
    with host.cd(workdir):
        assert host.run("pwd", interactive=False).strip() == workdir
        with host.cd(odd):
            with host.cd("sub"):
                assert host.getcwd() == posixpath.join(workdir, odd, "sub")
            assert host.getcwd() == posixpath.join(workdir, odd)
        assert host.getcwd() == workdir
    assert host.getcwd() == host.get_start_path()


def test_cd_expand_tilde(host) -> None:
    home = host.run("printf %s ~", interactive=False)
    with host.cd("~", expand=True):
        assert host.getcwd() == home
    with host.cd("~"):  # not expanded: a directory literally named '~' (does not exist)
        with pytest.raises(ExecCommandFailed):
            host.run("true", interactive=False)


def test_failed_cd_stops_the_whole_command(host, workdir) -> None:
    with host.cd(posixpath.join(workdir, "missing")):
        with pytest.raises(ExecCommandFailed):
            host.run("true; touch %s/ran" % workdir, interactive=False)
    assert not host.exists(posixpath.join(workdir, "ran"))


def test_env_escaping_and_expansion(host) -> None:
    value = "it's \"quoted\" $HOME `date` \\ !"
    with host.env("MYVAR", value):
        assert host.run('printf %s "$MYVAR"', interactive=False) == value
        with host.env("OTHER", "$MYVAR-x", escape=False):
            assert host.run('printf %s "$OTHER"', interactive=False) == value + "-x"
        # also through sudo
        assert host.sudo('printf %s "$MYVAR"', interactive=False) == value
    assert host.run('printf %s "${MYVAR:-unset}"', interactive=False) == "unset"
    with pytest.raises(ValueError):
        host.context.env("BAD NAME; rm", "x")


def test_prefix_order_and_nesting(host, workdir) -> None:
    with host.cd(workdir):
        with host.prefix("export A=1"):
            with host.prefix('export B="$A"2'):
                assert host.run('echo "$A$B"', interactive=False).strip() == "112"
            assert host.run('echo "$A${B:-none}"', interactive=False).strip() == "1none"
        with host.prefix("false"):
            with pytest.raises(ExecCommandFailed):
                host.run("echo never", interactive=False)


def test_copy_keeps_context_and_is_independent(host) -> None:
    with host.cd("/"), host.env("X", "1"):
        clone = host.copy()
    assert isinstance(clone, type(host)) and clone.pty is host.pty and clone.logger is host.logger
    assert clone.run('pwd; echo "$X"', interactive=False) == "/\n1\n"
    assert host.run('echo "${X:-none}"', interactive=False) == "none\n"
    other = DummyPty()
    assert host.copy(pty=other).pty is other
    ctx = HostContext()
    with ctx.cd("/tmp"):
        copied = ctx.copy()
    assert copied.build("ls") != ctx.build("ls")


# -- sandbox -----------------------------------------------------------------------

def test_sandbox_checks_syntax_and_executes_nothing(host, workdir) -> None:
    target = posixpath.join(workdir, "made")
    host.run("touch %s" % target, sandbox=True, interactive=False)
    host.sudo("touch %s" % target, sandbox=True, interactive=False)
    assert not host.exists(target)
    with pytest.raises(ExecCommandFailed) as info:
        host.run("if then fi (", sandbox=True, interactive=False)
    assert "syntax error" in info.value.result


# -- files -------------------------------------------------------------------------

def test_open_text_and_bytes(host, workdir, recorder) -> None:
    path = posixpath.join(workdir, "f.txt")
    with host.open(path, "w") as f:
        f.write("héllo\nwörld\n")
    with host.open(path, "r") as f:
        assert f.read() == "héllo\nwörld\n"
    with host.open(path) as f:  # 'rb' by default
        assert f.read() == "héllo\nwörld\n".encode()
    with host.open(path, "wb") as f:
        f.write(b"\x00\xff bytes")
    assert host.open(path, "rb").read() == b"\x00\xff bytes"
    # The reference's style: write a str to a 'wb' file, no with-block.
    host.open(path, "wb").write("some content")
    assert host.open(path, "r").read() == "some content"
    with host.open(path, "a") as f:
        f.write("+more")
    assert host.run("cat %s" % path, interactive=False) == "some content+more"
    with host.cd(workdir):
        assert host.open("f.txt", "r").read() == "some content+more"
    assert any(isinstance(e, FileTransferred) and e.remote_path == path for e in recorder.events)


def test_open_with_sudo(host, workdir, recorder) -> None:
    root_dir = posixpath.join(workdir, "rootonly")
    host.sudo("mkdir -m 700 %s" % root_dir, interactive=False)
    path = posixpath.join(root_dir, "secret")
    with host.open(path, "w", use_sudo=True) as f:
        f.write("top secret\n")
    assert host.sudo("stat -c %%U %s" % path, interactive=False).strip() == "root"
    assert host.open(path, "r", use_sudo=True).read() == "top secret\n"
    with host.open(path, "ab", use_sudo=True) as f:
        f.write(b"more\n")
    assert host.sudo("cat %s" % path, interactive=False) == "top secret\nmore\n"
    # Leaves none of its temp files behind.
    temps = [e.output_tail for e in recorder.of(CommandFinished) if e.command == "mktemp"]
    assert len(temps) == 3 and all(t.startswith("/") for t in temps)
    assert not any(host.exists(t) for t in temps)
    if host.username != "root" and not isinstance(host, LocalHost):
        with pytest.raises(OSError):
            host.open(path, "r").read()


def test_sandboxed_open_writes_nothing(host, workdir) -> None:
    path = posixpath.join(workdir, "sandboxed")
    with host.open(path, "w", sandbox=True) as f:
        f.write("nothing")
    assert not host.exists(path)


def test_get_and_put_file(host, workdir, tmp_path) -> None:
    local = tmp_path / "up.bin"
    data = os.urandom(300_000)
    local.write_bytes(data)
    remote = posixpath.join(workdir, "up.bin")
    host.put_file(str(local), remote)
    assert host.run("wc -c < %s" % remote, interactive=False).strip() == str(len(data))
    back = tmp_path / "down.bin"
    host.get_file(remote, str(back))
    assert back.read_bytes() == data
    # with sudo, into and out of a root-only directory
    root_dir = posixpath.join(workdir, "rootonly")
    host.sudo("mkdir -m 700 %s" % root_dir, interactive=False)
    host.put_file(str(local), root_dir + "/x", use_sudo=True)
    host.get_file(root_dir + "/x", str(tmp_path / "again"), use_sudo=True)
    assert (tmp_path / "again").read_bytes() == data
    host.put_file(str(local), root_dir + "/sandboxed", use_sudo=True, sandbox=True)
    assert not host.exists(root_dir + "/sandboxed")


def test_exists(host, workdir) -> None:
    assert host.exists(workdir)
    assert not host.exists(workdir + "/nope")
    assert host.exists("/etc/passwd", use_sudo=False)
    host.run("touch %s/'a b'" % workdir, interactive=False)
    with host.cd(workdir):
        assert host.exists("a b")


def test_listdir_stat(host, workdir) -> None:
    host.run("mkdir %s/d && printf 12345 > %s/f" % (workdir, workdir), interactive=False)
    uid, gid = host.run("id -u; id -g", interactive=False).split()
    entries = {s.filename: s for s in host.listdir_stat(workdir)}
    assert set(entries) == {"d", "f"}
    assert all(isinstance(s, Stat) for s in entries.values())
    assert entries["d"].is_dir and not entries["d"].is_file
    assert entries["f"].is_file and not entries["f"].is_dir and entries["f"].st_size == 5
    assert entries["f"].st_uid == int(uid) and entries["f"].st_gid == int(gid)
    with host.cd(workdir):
        assert {s.filename for s in host.listdir_stat()} == {"d", "f"}


def test_getcwd_and_start_path(host) -> None:
    start = host.get_start_path()
    assert start.startswith("/")
    if isinstance(host, LocalHost):
        assert start == os.getcwd()
    else:
        assert start == "/home/" + host.username
    with host.cd("/usr"):
        with host.cd("bin"):
            assert host.getcwd() == "/usr/bin"
            assert host.get_start_path() == start


def test_ifconfig_and_ip_address(host) -> None:
    assert host.get_ip_address("lo") == "127.0.0.1"
    assert host.ifconfig().get_interface("lo").ip == "127.0.0.1"


# -- events ------------------------------------------------------------------------

def test_events_for_each_command(host, recorder) -> None:
    host.run("echo one; echo two", interactive=False)
    with pytest.raises(ExecCommandFailed):
        host.run("echo bad; exit 7", interactive=False)
    started = recorder.of(CommandStarted)
    finished = recorder.of(CommandFinished)
    assert [e.command for e in started] == ["echo one; echo two", "echo bad; exit 7"]
    assert all(e.host == host.slug for e in started + finished)
    assert [e.command_id for e in started] == [e.command_id for e in finished]
    ok, bad = finished
    assert ok.exit_code == 0 and ok.error is None and ok.duration >= 0 and ok.output_tail == "one\ntwo"
    assert bad.exit_code == 7 and "exit status 7" in bad.error and bad.output_tail == "bad"
    output = "".join(e.data for e in recorder.of(CommandOutput) if e.command_id == ok.command_id)
    assert output == "one\ntwo\n"


def test_output_tail_keeps_last_lines(host, recorder) -> None:
    host.run("seq 1 100", interactive=False)
    tail = recorder.of(CommandFinished)[-1].output_tail.splitlines()
    assert tail == [str(i) for i in range(81, 101)]


# -- interactive -------------------------------------------------------------------

def test_initial_input(host) -> None:
    out = host.run('read a; read b; echo "got:$a,$b"', initial_input="xyz\nuvw\n")
    assert "got:xyz,uvw" in out


def test_interactive_run_through_real_pty(host_class) -> None:
    term = RealPty(rows=30, cols=90)
    try:
        host = host_class(pty=term.pty)
        results: list = []

        def typist() -> None:
            if term.wait_for(b"name?"):
                term.type(b"world\r")

        threading.Thread(target=typist, daemon=True).start()
        out = host.run('printf "name? "; read name; echo "hello $name"; stty size', timeout=20)
        results.append(out)
        assert "hello world" in out
        assert "30 90" in out
        assert term.wait_for(b"hello world")
        # the local terminal is back in its normal (cooked) mode
        import termios
        assert termios.tcgetattr(term.stdin.fileno())[3] & termios.ICANON
    finally:
        term.close()


def test_sigwinch_resizes_remote_pty(host_class) -> None:
    term = RealPty(rows=20, cols=70)
    try:
        host = host_class(pty=term.pty)

        def resizer() -> None:
            if term.wait_for(b"READY"):
                term.pty.set_size(33, 101)
                os.kill(os.getpid(), signal.SIGWINCH)
                # The resize travels ahead of the keystroke but on another path: give it a moment.
                threading.Event().wait(0.3)
                term.type(b"go\r")

        threading.Thread(target=resizer, daemon=True).start()
        out = host.run("stty size; echo READY; read x; stty size", timeout=20)
        lines = [l.strip() for l in out.splitlines() if l.strip()]
        assert lines[0] == "20 70"
        assert lines[-1] == "33 101"
    finally:
        term.close()


def test_interactive_shell(host) -> None:
    out = host.start_interactive_shell(initial_input="echo in-shell-$((6*7))\nexit 3\n")
    assert "in-shell-42" in out


# -- classes -----------------------------------------------------------------------

def test_slug_defaults() -> None:
    assert LocalHost.slug == "localhost"

    class A(SSHHost):
        address = "a.example.com"

    class B(A):
        address = "b.example.com"

    class C(B):
        slug = "named"

    class D(C):
        address = "d.example.com"

    assert (A.slug, B.slug, C.slug, D.slug) == ("a.example.com", "b.example.com", "named", "named")
