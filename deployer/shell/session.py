"""One shell session of a server: a thread with a pty pair, bridged to a connection.

The shell (and everything it runs: prompt_toolkit, hosts' interactive commands,
editors) sees the slave end of an ``os.openpty()`` pair, a real terminal; the
server moves bytes between the master end and its network connection. The
server layer (Twisted) stays out of this module: it calls :meth:`Session.feed`,
:meth:`Session.resize`, :meth:`Session.close`, and gets output through the
``send`` callback it passed in.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import termios
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from deployer.pseudo_terminal import Pty

__all__ = ["Session", "SessionOptions", "ServerPty", "WindowedPty", "interrupt_thread"]


def interrupt_thread(thread: threading.Thread, exc: type[BaseException] = KeyboardInterrupt) -> bool:
    """Raise ``exc`` in ``thread`` at its next Python instruction (a remote Ctrl-C).

    The thread's blocking calls (select with a timeout, reads) return soon in
    the host layer, so the exception lands within its poll interval.
    """
    if thread.ident is None or not thread.is_alive():
        return False
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc))
    return done == 1


@dataclass
class SessionOptions:
    """What a client asked for: terminal, start node, SCP shell or one action."""
    rows: int = 24
    cols: int = 80
    term: str = "xterm"
    path: Sequence[str] = ()
    scp: bool = False
    action: Sequence[str] | None = None
    interactive: bool = True
    #: The client can open windows for auxiliary terminals (parallel isolations).
    windows: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ServerPty(Pty):
    """The pty of a server session.

    Parallel cells on it run like on any :class:`Pty`: in worker threads, their
    output prefixed by host in this terminal.
    """

    def __init__(self, stdin: Any, stdout: Any, interactive: bool, term_var: str,
                 session: "Session") -> None:
        super().__init__(stdin, stdout, interactive=interactive, term_var=term_var)
        self.session = session


class WindowedPty(ServerPty):
    """The pty of a session whose client opens windows: each parallel cell gets one.

    A separate class, not a flag: the worker pool asks whether the pty's
    *type* overrides :meth:`run_in_auxiliary_ptys`, and a session without
    windows must keep the prefixed, parallel output.
    """

    def run_in_auxiliary_ptys(self, callbacks: Sequence[Callable[[Pty], Any]]) -> list[Any]:
        opener = self.session.open_auxiliary
        if opener is None or len(callbacks) < 2:
            return [callback(self) for callback in callbacks]
        return opener(callbacks)


class Session:
    """A shell (or one callback, for an auxiliary window) on a fresh pty pair.

    :param run: ``run(pty, session) -> int``: what runs in the session thread.
    :param send: called (in the server's thread) with output bytes.
    :param options: the client's terminal and wishes.
    """

    def __init__(self, run: Callable[[Pty, "Session"], int], send: Callable[[bytes], None],
                 options: SessionOptions, name: str = "session") -> None:
        self.options = options
        self._run = run
        self._send = send
        self.name = name
        self.status: int | None = None
        self.shell: Any = None  # set by ``run`` so that Ctrl-C knows when an action runs
        #: Set by the server when parallel isolations may open windows.
        self.open_auxiliary: Callable[[Sequence[Callable[[Pty], Any]]], list[Any]] | None = None
        self.master, self.slave = os.openpty()
        self._set_size(options.rows, options.cols)
        # Writes to the master must never block the server's reactor.
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self._pending = bytearray()
        self._lock = threading.Lock()
        self.closed = threading.Event()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._main, name="deployer-%s" % name, daemon=True)
        self.pty: ServerPty | None = None
        #: True for an auxiliary window's session: it runs one parallel cell from
        #: start to end, so Ctrl-C or a closed window always interrupts it.
        self.runs_cell = False
        #: Set once Ctrl-C or the client's going away interrupted this session.
        self.interrupted = threading.Event()

    # -- thread side ----------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def _main(self) -> None:
        stdin = os.fdopen(os.dup(self.slave), "r", encoding="utf-8", errors="replace")
        stdout = os.fdopen(os.dup(self.slave), "w", encoding="utf-8", errors="replace")
        windows = self.options.windows and self.open_auxiliary is not None
        pty_class = WindowedPty if windows else ServerPty
        self.pty = pty_class(stdin, stdout, self.options.interactive, self.options.term, self)
        status = 1
        try:
            status = self._run(self.pty, self)
        except KeyboardInterrupt:
            status = 130
        except BaseException as e:  # the server outlives any session
            try:
                stdout.write("\r\nSession ended by an internal error: %s: %s\r\n" % (type(e).__name__, e))
                stdout.flush()
            except (OSError, ValueError):
                pass
        finally:
            self.status = status
            for f in (stdin, stdout):
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
            try:
                os.close(self.slave)
            except OSError:
                pass
            self.finished.set()

    # -- server side ----------------------------------------------------------

    def read_output(self) -> bytes | None:
        """Read what the session wrote (non-blocking); None once the session has ended."""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:  # all slave descriptors closed: the session is over
                return None
            raise

    def feed(self, data: bytes) -> None:
        """Input from the client. Ctrl-C while an action runs interrupts it."""
        if b"\x03" in data and self._busy():
            # The byte still goes in: it wakes a host waiting for input (so the
            # interrupt lands) and reaches the remote command; the shell drops
            # what is left of it before the next prompt.
            self.interrupted.set()
            interrupt_thread(self.thread)
        with self._lock:
            self._pending += data
            self.flush_input()

    def flush_input(self) -> bool:
        """Write pending input to the pty; True when some is left (try again later)."""
        while self._pending:
            try:
                n = os.write(self.master, bytes(self._pending[:4096]))
            except BlockingIOError:
                return True
            except OSError:
                self._pending.clear()
                return False
            del self._pending[:n]
        return False

    def _busy(self) -> bool:
        if self.runs_cell:
            return not self.finished.is_set()
        shell = self.shell
        return shell is not None and shell.busy.is_set()

    def resize(self, rows: int, cols: int) -> None:
        self.options.rows, self.options.cols = rows, cols
        self._set_size(rows, cols)

    def _set_size(self, rows: int, cols: int) -> None:
        try:
            fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("hhhh", rows, cols, 0, 0))
        except OSError:
            pass

    def interrupt(self) -> None:
        """Stop what runs in this session now, as Ctrl-C would (remote processes too)."""
        self.interrupted.set()
        interrupt_thread(self.thread)
        try:
            # Wakes a host waiting on its input so the interrupt lands now.
            os.write(self.master, b"\x03")
        except OSError:
            pass

    def close(self) -> None:
        """The client went away: stop what runs (remote processes too) and end the shell."""
        if self.closed.is_set():
            return
        self.closed.set()
        shell = self.shell
        if shell is not None:
            shell.closed.set()
            shell.stop_prompt()
        if self._busy():
            self.interrupt()

    def release(self) -> None:
        """Close the master end (after the session ended or was abandoned)."""
        try:
            os.close(self.master)
        except OSError:
            pass
