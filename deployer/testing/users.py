"""The two system users the SSH test bed logs in as.

- ``deployer-test``: passwordless sudo.
- ``deployer-sudo``: sudo asks for its password every time (no timestamp caching).

They are created idempotently (as root) under a file lock, because several
pytest processes may set up a bed at the same moment. Their passwords are
random, made once per machine and kept in a root-only file so that concurrent
beds agree on them.
"""
from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from deployer.testing.errors import TestBedError

SUDO_NOPASSWD_USER = "deployer-test"
SUDO_PASSWORD_USER = "deployer-sudo"
USERS = (SUDO_NOPASSWD_USER, SUDO_PASSWORD_USER)

STATE_DIR = Path("/var/lib/deployer-testbed")
LOCK_FILE = STATE_DIR / "users.lock"
PASSWORDS_FILE = STATE_DIR / "passwords.json"
SUDOERS_FILE = Path("/etc/sudoers.d/deployer-testbed")
# sudo for the password user goes through its own PAM service: the same pam_unix
# check, without its 2 s delay after a wrong password (tests try wrong passwords).
PAM_SERVICE = "deployer-testbed-sudo"
PAM_FILE = Path("/etc/pam.d") / PAM_SERVICE
PAM_CONFIG = """\
#%PAM-1.0
# sudo for deployer's SSH test bed user (deployer/testing/users.py).
auth    required pam_unix.so nodelay
account required pam_unix.so
session required pam_unix.so
"""

SUDOERS = f"""\
# Test users of deployer's SSH test bed (deployer/testing/users.py).
{SUDO_NOPASSWD_USER} ALL=(ALL:ALL) NOPASSWD: ALL
Defaults:{SUDO_PASSWORD_USER} !lecture, timestamp_timeout=0, pam_service={PAM_SERVICE}
{SUDO_PASSWORD_USER} ALL=(ALL:ALL) ALL
"""


@dataclass(frozen=True)
class TestUser:
    """A user of the bed: logs in with ``key_filename``; ``password`` is for sudo / password login."""

    __test__ = False  # not a pytest test class

    name: str
    password: str = field(repr=False)  # keep it out of test logs
    key_filename: str


def _run(*cmd: str, input: str | None = None) -> None:
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TestBedError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {proc.stderr.strip()}")


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _load_passwords() -> dict[str, str]:
    try:
        data = json.loads(PASSWORDS_FILE.read_text())
    except (OSError, ValueError):
        data = {}
    changed = False
    for name in USERS:
        if not isinstance(data.get(name), str) or not data[name]:
            data[name] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        tmp = PASSWORDS_FILE.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, PASSWORDS_FILE)
    return data


def _minimal_home(name: str) -> None:
    """Empty shell start-up files so every remote command starts fast and quiet."""
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    home.mkdir(mode=0o755, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    for rc in (".bashrc", ".profile", ".bash_logout"):
        path = home / rc
        if not path.exists() or path.stat().st_size:
            path.write_text("")
        os.chown(path, entry.pw_uid, entry.pw_gid)
    # Don't let a .bash_profile from elsewhere shadow the empty .profile.
    (home / ".bash_profile").unlink(missing_ok=True)


def _pam_service() -> None:
    if PAM_FILE.exists() and PAM_FILE.read_text() == PAM_CONFIG:
        return
    tmp = PAM_FILE.with_name(f".{PAM_SERVICE}.tmp")
    tmp.write_text(PAM_CONFIG)
    os.chmod(tmp, 0o644)
    os.replace(tmp, PAM_FILE)


def _sudoers() -> None:
    if SUDOERS_FILE.exists() and SUDOERS_FILE.read_text() == SUDOERS:
        return
    tmp = SUDOERS_FILE.with_name(".deployer-testbed.tmp")  # files with a '.' are ignored by sudo
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
    with os.fdopen(fd, "w") as f:
        f.write(SUDOERS)
    try:
        _run("visudo", "-cqf", str(tmp))
    except TestBedError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, SUDOERS_FILE)


def ensure_users() -> dict[str, str]:
    """Create (or repair) the test users; return their passwords by name.

    Needs root: sshd must switch to these users, and sudoers must be written.
    """
    if os.geteuid() != 0:
        missing = [u for u in USERS if not _exists(u)]
        raise TestBedError(
            "the SSH test bed must run as root (it starts sshd for the system users "
            f"{', '.join(USERS)}" + (f"; missing users: {', '.join(missing)}" if missing else "") + ")"
        )
    STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for name in USERS:
                if not _exists(name):
                    _run("useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name)
                _minimal_home(name)
            passwords = _load_passwords()
            _run("chpasswd", input="".join(f"{n}:{passwords[n]}\n" for n in USERS))
            _pam_service()  # before sudoers names it
            _sudoers()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {n: passwords[n] for n in USERS}
