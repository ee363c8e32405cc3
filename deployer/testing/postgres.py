"""A throwaway PostgreSQL cluster on 127.0.0.1, with password auth over TCP::

    from deployer.testing.postgres import PostgresTestBed

    with PostgresTestBed() as pg:
        print(pg.url)        # postgresql://deployer:…@127.0.0.1:PORT/deployer

The cluster's data dir and unix socket live in a temp dir owned by the server's
user (``postgres`` when we are root, since PostgreSQL refuses to run as root).
Durability is switched off (``fsync=off``): this is for tests only.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from deployer.testing.errors import TestBedError
from deployer.testing.procs import accepts_tcp, die_with_parent, free_port

__all__ = ["PostgresTestBed", "find_bindir"]

START_TIMEOUT = 15.0
PORT_ATTEMPTS = 5


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``postgres`` and ``initdb``."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)", d)
        if m and os.path.exists(os.path.join(d, "postgres")) and os.path.exists(os.path.join(d, "initdb")):
            found.append((int(m.group(1)), Path(d)))
    if not found:
        raise TestBedError("PostgreSQL not found under /usr/lib/postgresql/*/bin: install postgresql")
    return max(found)[1]


class PostgresTestBed:
    """PostgreSQL on ``127.0.0.1:<free port>``; ``url``, ``user``, ``password``, ``dbname``, ``port``."""

    def __init__(self, user: str = "deployer", dbname: str = "deployer", os_user: str | None = None,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.user = user
        self.dbname = dbname
        self.password = secrets.token_urlsafe(18)
        self.start_timeout = start_timeout
        self.port = 0
        self.directory: Path | None = None
        self._os_user = os_user or ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
        self._proc: subprocess.Popen | None = None
        self._bindir = find_bindir()

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}"

    def __repr__(self) -> str:  # no password in reprs
        return f"<PostgresTestBed 127.0.0.1:{self.port}/{self.dbname}>"

    def __enter__(self) -> "PostgresTestBed":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "PostgresTestBed":
        """initdb, start the server, create the database; raise :class:`TestBedError` with the log on failure."""
        if self._proc is not None:
            raise TestBedError("PostgresTestBed already started")
        try:
            self._initdb()
            self._start_server()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Fast shutdown, then remove the data dir."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    # -- internals ----------------------------------------------------------

    def _server_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self._os_user)
        except KeyError:
            raise TestBedError(f"system user {self._os_user!r} for PostgreSQL does not exist") from None

    def _as_server_user(self) -> dict[str, Any]:
        entry = self._server_user()
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.directory)}
        kwargs: dict[str, Any] = {"env": env, "cwd": str(self.directory)}
        if entry.pw_uid != os.geteuid():
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="deployer-pg-"))
        entry = self._server_user()
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.password + "\n")
        for p in (self.directory, pwfile):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        os.chmod(pwfile, 0o600)
        (self.directory / "socket").mkdir(mode=0o700)
        os.chown(self.directory / "socket", entry.pw_uid, entry.pw_gid)
        proc = subprocess.run(
            [str(self._bindir / "initdb"), "-D", str(self.directory / "data"), "-U", self.user,
             "--pwfile", str(pwfile), "--auth-host=scram-sha-256", "--auth-local=trust",
             "--no-locale", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, **self._as_server_user(),
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise TestBedError(f"initdb failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")

    def _start_server(self) -> None:
        assert self.directory is not None
        errors = []
        for _attempt in range(PORT_ATTEMPTS):
            self.port = free_port()
            log_path = self.directory / "postgres.log"
            with open(log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    [str(self._bindir / "postgres"), "-D", str(self.directory / "data"),
                     "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.directory / "socket"),
                     "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                     "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent, **self._as_server_user(),
                )
            deadline = time.monotonic() + self.start_timeout
            while self._proc.poll() is None and time.monotonic() < deadline:
                # TCP accept alone is not "ready": the socket opens before recovery ends.
                if accepts_tcp("127.0.0.1", self.port) and self._ready():
                    return
                time.sleep(0.05)
            out = log_path.read_text(errors="replace").strip()
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
                errors.append(f"port {self.port}: not ready after {self.start_timeout:.0f}s: {out}")
            else:
                errors.append(f"port {self.port}: postgres exited with {self._proc.returncode}: {out}")
            self._proc = None
            if "in use" not in out:
                break
        raise TestBedError("PostgreSQL test bed did not start:\n" + "\n".join(errors))

    def _ready(self) -> bool:
        proc = subprocess.run(
            [str(self._bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
        )
        return proc.returncode == 0

    def _create_database(self) -> None:
        import psycopg  # the test extras install it; imported lazily like any optional driver

        if self.dbname == "postgres":
            return
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
