"""A throwaway OpenSSH server on loopback: N addresses 127.0.0.1 … 127.0.0.N act as N hosts.

Everything (sshd_config, host key, user key, authorized_keys, logs) lives in a
temp dir that is removed on :meth:`SSHTestBed.stop`. Needs root (sshd switches
to the test users; see :mod:`deployer.testing.users`)::

    from deployer.testing.sshd import SSHTestBed

    with SSHTestBed(n_hosts=4) as bed:
        Web = bed.host_class(0)                 # an SSHHost subclass for 127.0.0.1
        print(Web().run("hostname", interactive=False))
        print(bed.addresses, bed.port, bed.user.name)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from deployer.testing.errors import TestBedError
from deployer.testing.procs import accepts_tcp, descendants, die_with_parent, free_port, kill_all
from deployer.testing.users import SUDO_NOPASSWD_USER, SUDO_PASSWORD_USER, USERS, TestUser, ensure_users

__all__ = ["SSHTestBed", "TestUser", "TestBedError"]

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")
ADDRESSES_PER_DAEMON = 16  # sshd's limit on ListenAddress lines
START_TIMEOUT = 10.0
PORT_ATTEMPTS = 5

# Options common to every daemon of a bed; why each matters is noted.
_SSHD_OPTIONS = """\
PidFile none
LogLevel ERROR
UseDNS no
UsePAM no
# authorized_keys lives in the bed's temp dir, under /tmp (world-writable): StrictModes would refuse it.
StrictModes no
AuthorizedKeysFile {authorized_keys}/%u
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {users}
# paramiko may offer agent keys and ~/.ssh keys before the right one.
MaxAuthTries 30
# Fan-out to 50 addresses opens many connections at once.
MaxStartups 200:30:300
MaxSessions 100
LoginGraceTime 30
# Dead clients are noticed quickly.
ClientAliveInterval 5
ClientAliveCountMax 3
AllowTcpForwarding yes
AllowAgentForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
PermitUserEnvironment no
Subsystem sftp internal-sftp
"""


def _keygen(path: Path, comment: str) -> None:
    proc = subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise TestBedError(f"ssh-keygen failed: {proc.stderr.strip()}")


class SSHTestBed:
    """OpenSSH on ``127.0.0.1`` … ``127.0.0.<n_hosts>``, all on one free port.

    Attributes (after :meth:`start`): ``addresses``, ``port``, ``user`` (passwordless
    sudo), ``sudo_user`` (sudo needs its password), ``known_hosts`` (path),
    ``sshd_pids`` (listener pids), ``directory`` (the temp dir).
    """

    def __init__(self, n_hosts: int = 4, start_timeout: float = START_TIMEOUT) -> None:
        if not 1 <= n_hosts <= 254:
            raise ValueError("n_hosts must be between 1 and 254")
        self.n_hosts = n_hosts
        self.start_timeout = start_timeout
        self.addresses: list[str] = [f"127.0.0.{i + 1}" for i in range(n_hosts)]
        self.port: int = 0
        self.directory: Path | None = None
        self.known_hosts: str = ""
        self.user: TestUser | None = None
        self.sudo_user: TestUser | None = None
        self._procs: list[subprocess.Popen] = []

    # -- life cycle ---------------------------------------------------------

    def __enter__(self) -> "SSHTestBed":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def sshd_pids(self) -> list[int]:
        """Pids of the listening sshd processes (one per 16 addresses)."""
        return [p.pid for p in self._procs if p.poll() is None]

    def start(self) -> "SSHTestBed":
        """Write keys and config, start the daemons, wait until every address accepts TCP."""
        if self._procs:
            raise TestBedError("SSHTestBed already started")
        if not os.path.exists(SSHD):
            raise TestBedError(f"{SSHD} not found: install openssh-server")
        passwords = ensure_users()
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            self._prepare_files(passwords)
            self._start_daemons()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the daemons and every session they started; remove the temp dir."""
        listeners = [p.pid for p in self._procs]
        # In -D mode the listener does not take its sessions down with it.
        kill_all(descendants(listeners))
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs = []
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def drop_connections(self) -> None:
        """Kill every live session (sshd children and their commands); the listeners stay up."""
        pids = descendants(self.sshd_pids)
        kill_all(pids)
        # Reap-wait briefly so callers see the sessions gone when this returns.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") and not _is_zombie(p) for p in pids):
            time.sleep(0.01)

    # -- hosts --------------------------------------------------------------

    def host_class(self, i: int = 0, user: TestUser | None = None, **attrs: Any) -> type:
        """An ``SSHHost`` subclass for address ``i``, logged in as ``user`` (default :attr:`user`)."""
        from deployer.host.ssh import SSHHost  # lazily: the bed is usable before the host layer exists

        if self.user is None:
            raise TestBedError("SSHTestBed not started")
        user = user or self.user
        namespace: dict[str, Any] = {
            "slug": f"bed-{i}",
            "address": self.addresses[i],
            "port": self.port,
            "username": user.name,
            "password": user.password,
            "key_filename": user.key_filename,
            "known_hosts_filename": self.known_hosts,
            "config_filename": None,
        }
        namespace.update(attrs)
        return type(f"Bed{i}Host", (SSHHost,), namespace)

    def host_classes(self, user: TestUser | None = None) -> list[type]:
        """One ``SSHHost`` subclass per address."""
        return [self.host_class(i, user=user) for i in range(self.n_hosts)]

    # -- internals ----------------------------------------------------------

    def _prepare_files(self, passwords: dict[str, str]) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="deployer-sshd-"))
        # sshd reads authorized_keys as the target user: the path must be traversable.
        os.chmod(self.directory, 0o755)
        keys = self.directory / "keys"
        keys.mkdir(mode=0o700)
        _keygen(self.directory / "ssh_host_ed25519_key", "deployer test bed host key")
        key_file = keys / "id_ed25519"
        _keygen(key_file, "deployer test bed user key")
        public = key_file.with_suffix(".pub").read_text()
        auth = self.directory / "authorized_keys"
        auth.mkdir(mode=0o755)
        for name in USERS:
            (auth / name).write_text(public)
            os.chmod(auth / name, 0o644)
        self.user = TestUser(SUDO_NOPASSWD_USER, passwords[SUDO_NOPASSWD_USER], str(key_file))
        self.sudo_user = TestUser(SUDO_PASSWORD_USER, passwords[SUDO_PASSWORD_USER], str(key_file))

    def _write_configs(self) -> list[Path]:
        assert self.directory is not None
        common = _SSHD_OPTIONS.format(authorized_keys=self.directory / "authorized_keys", users=" ".join(USERS))
        configs = []
        for n, first in enumerate(range(0, self.n_hosts, ADDRESSES_PER_DAEMON)):
            chunk = self.addresses[first:first + ADDRESSES_PER_DAEMON]
            listen = "".join(f"ListenAddress {a}:{self.port}\n" for a in chunk)
            text = f"HostKey {self.directory / 'ssh_host_ed25519_key'}\n{listen}{common}"
            path = self.directory / f"sshd_config.{n}"
            path.write_text(text)
            configs.append(path)
        return configs

    def _write_known_hosts(self) -> None:
        assert self.directory is not None
        key = (self.directory / "ssh_host_ed25519_key.pub").read_text().split()
        path = self.directory / "known_hosts"
        path.write_text("".join(f"[{a}]:{self.port} {key[0]} {key[1]}\n" for a in self.addresses))
        self.known_hosts = str(path)

    def _start_daemons(self) -> None:
        errors = []
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            configs = self._write_configs()
            # Validate once: a config error is not a port clash, don't retry it.
            check = subprocess.run([SSHD, "-t", "-f", str(configs[0])], capture_output=True, text=True)
            if check.returncode != 0:
                raise TestBedError(f"sshd rejected its config {configs[0]}: {check.stderr.strip()}")
            for n, config in enumerate(configs):
                log = open(self.directory / f"sshd.{n}.log", "wb")
                with log:
                    self._procs.append(subprocess.Popen(
                        [SSHD, "-D", "-e", "-f", str(config)],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        preexec_fn=die_with_parent, close_fds=True,
                    ))
            failure = self._wait_listening()
            if failure is None:
                self._write_known_hosts()
                return
            errors.append(f"port {self.port}: {failure}")
            kill_all(descendants([p.pid for p in self._procs]))
            for proc in self._procs:
                proc.kill()
                proc.wait()
            self._procs = []
            if "in use" not in failure and "Cannot bind" not in failure:
                break
        raise TestBedError("sshd test bed did not start:\n" + "\n".join(errors))

    def _wait_listening(self) -> str | None:
        """None once every address accepts TCP, else sshd's error output."""
        pending = list(self.addresses)
        deadline = time.monotonic() + self.start_timeout
        while pending:
            for n, proc in enumerate(self._procs):
                if proc.poll() is not None:
                    return f"sshd exited with {proc.returncode}: {self._log(n)}"
            pending = [a for a in pending if not accepts_tcp(a, self.port, timeout=0.2)]
            if not pending:
                return None
            if time.monotonic() > deadline:
                logs = " | ".join(self._log(n) for n in range(len(self._procs)))
                return f"not listening on {', '.join(pending)} after {self.start_timeout:.0f}s: {logs}"
            time.sleep(0.02)
        return None

    def _log(self, n: int) -> str:
        assert self.directory is not None
        try:
            return (self.directory / f"sshd.{n}.log").read_text(errors="replace").strip() or "(no output)"
        except OSError:
            return "(no log)"


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] == b"Z"
    except OSError:
        return True
