"""``LocalHost``: run commands on this machine (a pty through pexpect's ptyprocess, else pipes)::

    from deployer.host import LocalHost

    LocalHost().run('uname -a', interactive=False)
"""
from __future__ import annotations

import errno
import os
import select as _select
import shutil
import signal
import subprocess
from typing import Any

import ptyprocess

from deployer.host.base import Host, Process, Stat

__all__ = ["LocalHost"]

SHELL = "/bin/bash"


def _wait_exit(pid: int, timeout: float | None) -> bool:
    """Block until process ``pid`` (our child) exits, at most ``timeout``; True if it did.

    A pidfd makes this a plain ``select``: no polling.
    """
    if timeout is None:
        return True  # the caller's blocking wait does the job
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        return True  # no pidfd support: fall back to a blocking wait
    try:
        while True:
            try:
                return bool(_select.select([pidfd], [], [], timeout)[0])
            except InterruptedError:
                continue
    finally:
        os.close(pidfd)


def _status(returncode: int | None) -> int | None:
    """Exit status; None when the process was killed by a signal."""
    if returncode is None or returncode < 0:
        return None
    return returncode


def _kill_group(pid: int) -> None:
    # Each command leads its own session (and process group): take it all down.
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


class _PtyProcess(Process):
    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        self._proc = ptyprocess.PtyProcess.spawn(argv, env=env, dimensions=size)
        # ptyprocess sleeps these after close/terminate by default.
        self._proc.delayafterclose = 0
        self._proc.delayafterterminate = 0
        self._fd = self._proc.fd
        self._reaped: int | None | bool = False
        self._closed = False

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        try:
            return os.read(self._fd, 65536)
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno == errno.EIO:  # Linux: every slave end is closed
                return b""
            raise

    def write(self, data: bytes) -> None:
        while data:
            try:
                n = os.write(self._fd, data)
            except OSError as e:
                if e.errno in (errno.EIO, errno.EBADF):
                    return  # the command is gone; its status tells the story
                raise
            data = data[n:]

    def close_stdin(self) -> None:
        self._proc.sendeof()

    def wait(self, timeout: float | None) -> int | None:
        if not _wait_exit(self._proc.pid, timeout):
            raise TimeoutError()
        self._proc.wait()
        self._reaped = True
        if self._proc.exitstatus is None:
            return None
        return int(self._proc.exitstatus)

    def kill(self) -> None:
        _kill_group(self._proc.pid)

    def resize(self, rows: int, cols: int) -> None:
        try:
            self._proc.setwinsize(rows, cols)
        except OSError:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._reaped:
            self.kill()
            if _wait_exit(self._proc.pid, 5):
                try:
                    self._proc.wait()
                except ptyprocess.PtyProcessError:
                    pass
        try:
            self._proc.fileobj.close()
        except OSError:
            pass
        self._proc.closed = True


class _PipeProcess(Process):
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env, bufsize=0,
                                      start_new_session=True, close_fds=True)
        self._fd = self._proc.stdout.fileno()  # type: ignore[union-attr]
        self._closed = False

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        try:
            return os.read(self._fd, 65536)
        except BlockingIOError:
            return None

    def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError):
            pass  # the command stopped reading; its status tells the story

    def close_stdin(self) -> None:
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass

    def wait(self, timeout: float | None) -> int | None:
        if not _wait_exit(self._proc.pid, timeout):
            raise TimeoutError()
        return _status(self._proc.wait())

    def kill(self) -> None:
        if self._proc.returncode is None:
            _kill_group(self._proc.pid)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._proc.returncode is None:
            self.kill()
            if _wait_exit(self._proc.pid, 5):
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except (OSError, ValueError):
                pass


class LocalHost(Host):
    """LocalHost can be used instead of SSHHost for local execution.

    Commands run in ``/bin/bash -c``, in this process's working directory, with a
    pty (pexpect's ptyprocess) when interactive and plain pipes otherwise.
    """

    @classmethod
    def _default_slug(cls) -> str:
        return "localhost"

    def _start_process(self, command: str, pty: bool, term: str, size: tuple[int, int]) -> Process:
        env = dict(os.environ)
        argv = [SHELL, "-c", command]
        if pty:
            env["TERM"] = term or env.get("TERM", "xterm")
            return _PtyProcess(argv, env, size)
        return _PipeProcess(argv, env)

    def _open_binary(self, path: str, mode: str) -> Any:
        return open(path, mode + "b", buffering=0)

    def _listdir_stat(self, path: str) -> list[Stat]:
        with os.scandir(path) as entries:
            return [Stat(entry.stat(follow_symlinks=False), entry.name) for entry in entries]

    def _get(self, remote_path: str, local_path: str) -> None:
        shutil.copyfile(remote_path, local_path)

    def _put(self, local_path: str, remote_path: str) -> None:
        shutil.copyfile(local_path, remote_path)

    def _remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
