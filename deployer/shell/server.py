"""The shell servers, on Twisted: a unix socket (``listen``) and telnet (``telnet-server``).

Every client gets its own :class:`~deployer.shell.session.Session` (a shell
thread on a pty pair). All sessions live in one process, so they share the
hosts' connections (the host layer keeps one per host class per process).

Security: the unix socket is created 0600 in the user's 0700 runtime
directory; telnet listens on 127.0.0.1 only.
"""
from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
import time
from typing import Any, Callable, Sequence

from deployer.shell.protocol import (ATTACH, DATA, EXIT, HELLO, OPEN_WINDOW, WINDOW, FrameDecoder, ProtocolError,
                                     decode_json, decode_size, encode, encode_json)
from deployer.shell.session import Session, SessionOptions

__all__ = ["ShellServer", "serve_unix", "serve_telnet", "run_session"]

#: How long an auxiliary window may take to connect before its work runs in the main terminal.
AUX_ATTACH_TIMEOUT = 15.0
#: How often the session thread wakes while it waits on windows, so that Ctrl-C lands.
AUX_WAKE_INTERVAL = 0.25
#: How long an interrupted parallel action waits for the cells in its windows to stop.
AUX_STOP_GRACE = 10.0


def run_session(server: "ShellServer") -> Callable[[Any, Session], int]:
    """The body of a session thread: one action, the SCP shell or the main shell."""

    def run(pty: Any, session: Session) -> int:
        from deployer.shell.launch import history_file
        from deployer.shell.shell import Shell

        opts = session.options
        shell = Shell(server.root, pty, logger=server.logger, path=opts.path, history_file=history_file())
        session.shell = shell
        try:
            shell.node
        except LookupError as e:
            pty.write("%s\r\n" % e)
            return 2
        if opts.action:
            return _run_one(shell, list(opts.action))
        if opts.scp:
            shell.execute("--scp")
            return 0
        return shell.cmdloop()

    return run


def _run_one(shell: Any, words: list[str]) -> int:
    from deployer.shell.errors import ShellCommandError

    sandbox = False
    if words[0] == "sandbox" and len(words) > 1:
        sandbox, words = True, words[1:]
    try:
        node, name, params = shell.split_action_words(words)
    except (ShellCommandError, LookupError) as e:
        shell.write_error(str(e))
        return 2
    shell.busy.set()
    try:
        ok, _ = shell.run_action(node, name, params, sandbox=sandbox)
    except KeyboardInterrupt:
        shell.write_error("Interrupted.")
        return 130
    finally:
        shell.busy.clear()
    return 0 if ok else 1


class ShellServer:
    """State shared by the sessions of one server process (no globals)."""

    def __init__(self, root: Any, logger: Any = None, interactive: bool = True) -> None:
        self.root = root
        self.logger = logger
        self.interactive = interactive
        self.sessions: set[Session] = set()
        self._aux: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.reactor: Any = None

    def new_session(self, options: SessionOptions, send: Callable[[bytes], None], name: str,
                    run: Callable[[Any, Session], int] | None = None) -> Session:
        options.interactive = options.interactive and self.interactive
        session = Session(run or run_session(self), send, options, name=name)
        session.open_auxiliary = lambda callbacks, s=session: self.open_auxiliary(s, callbacks)
        with self._lock:
            self.sessions.add(session)
        return session

    def forget(self, session: Session) -> None:
        with self._lock:
            self.sessions.discard(session)

    # -- auxiliary windows ------------------------------------------------

    def open_auxiliary(self, session: Session, callbacks: Sequence[Callable[[Any], Any]]) -> list[Any]:
        """Run each callback in a window of its own (a new client connection), in parallel.

        Called from the session thread. The client is asked to open one window
        per callback; each window attaches back with its token and runs its
        callback on its own pty. A window that does not attach within
        :data:`AUX_ATTACH_TIMEOUT` gets its callback run in the session's own
        terminal afterwards. Ctrl-C in the main terminal or in any window (or
        a window closed early) interrupts every cell; once they stopped, the
        interrupt goes on to the caller.
        """
        requester = getattr(session, "request_window", None)
        if requester is None:
            return [cb(session.pty) for cb in callbacks]
        slots = []
        for cb in callbacks:
            token = secrets.token_hex(16)
            slot = {"callback": cb, "done": threading.Event(), "attached": threading.Event(),
                    "cancelled": threading.Event(), "session": None, "result": None, "error": None}
            with self._lock:
                self._aux[token] = slot
            slots.append((token, slot))
            self.reactor.callFromThread(requester, token)
        try:
            self._wait_for_windows(session, slots)
        except BaseException:
            self._stop_windows(slots)
            raise
        results = []
        for _, slot in slots:
            if slot["error"] is not None:
                raise slot["error"]
            results.append(slot["result"])
        return results

    def _wait_for_windows(self, session: Session, slots: list[tuple[str, dict[str, Any]]]) -> None:
        # Polling waits: a Ctrl-C for this session thread is an asynchronous
        # exception, which lands only while Python code runs.
        deadline = time.monotonic() + AUX_ATTACH_TIMEOUT
        late = []
        for token, slot in slots:
            while not slot["attached"].wait(AUX_WAKE_INTERVAL):
                self._check_interrupted(slots)
                if time.monotonic() > deadline:
                    with self._lock:
                        self._aux.pop(token, None)
                    if not slot["attached"].is_set():  # it may have attached in between
                        late.append(slot)
                    break
        for slot in late:
            self._check_interrupted(slots)
            try:
                slot["result"] = slot["callback"](session.pty)
            except Exception as e:
                slot["error"] = e
            slot["done"].set()
        for _, slot in slots:
            while not slot["done"].wait(AUX_WAKE_INTERVAL):
                self._check_interrupted(slots)

    @staticmethod
    def _check_interrupted(slots: list[tuple[str, dict[str, Any]]]) -> None:
        """Ctrl-C in one window (or a window closed early) interrupts the whole parallel action."""
        for _, slot in slots:
            aux = slot["session"]
            if aux is not None and aux.interrupted.is_set():
                raise KeyboardInterrupt("interrupted in the window of a parallel cell")

    def _stop_windows(self, slots: list[tuple[str, dict[str, Any]]]) -> None:
        """Interrupt every cell still running in a window and wait (a while) until they all stopped."""
        with self._lock:
            for token, _ in slots:
                self._aux.pop(token, None)  # windows that attach from now on are refused
        for _, slot in slots:
            # First the flag, then the session: a window attaching right now
            # either sees the flag or is interrupted here.
            slot["cancelled"].set()
            aux = slot["session"]
            if aux is not None and not slot["done"].is_set():
                aux.interrupt()
        deadline = time.monotonic() + AUX_STOP_GRACE
        for _, slot in slots:
            if slot["attached"].is_set():
                # Plain waits: a second Ctrl-C must not leave cells running unnoticed.
                slot["done"].wait(max(0.0, deadline - time.monotonic()))

    def claim_auxiliary(self, token: str) -> dict[str, Any] | None:
        """The slot waiting for a window with ``token`` (once only), or None."""
        with self._lock:
            slot = self._aux.pop(token, None)
            if slot is not None:
                slot["attached"].set()
        return slot

    def aux_runner(self, slot: dict[str, Any]) -> Callable[[Any, Session], int]:
        """The body of an auxiliary window's session: its slot's callback, on the window's pty."""
        def run(pty: Any, session: Session) -> int:
            try:
                if slot["cancelled"].is_set():
                    raise KeyboardInterrupt("the parallel action was interrupted before this window opened")
                slot["result"] = slot["callback"](pty)
                return 0
            except BaseException as e:
                slot["error"] = e
                return 1
            finally:
                slot["done"].set()

        return run

    def stop_all(self) -> None:
        with self._lock:
            sessions = list(self.sessions)
        for s in sessions:
            s.close()


# -- Twisted glue -------------------------------------------------------------

def _pty_reader(reactor: Any, session: Session, on_output: Callable[[bytes], None],
                on_end: Callable[[], None]) -> Any:
    """Register the session's pty master with the reactor; output goes to ``on_output``."""
    from twisted.internet import error

    class Reader:
        def fileno(self) -> int:
            return session.master

        def doRead(self) -> Any:
            data = session.read_output()
            if data is None:
                return error.ConnectionDone()
            if data:
                on_output(data)
            return None

        def connectionLost(self, reason: Any) -> None:
            reactor.removeReader(self)
            session.finished.wait(1)
            session.release()
            on_end()

        def logPrefix(self) -> str:
            return "deployer-pty"

    reader = Reader()
    reactor.addReader(reader)
    return reader


def _retry_input(reactor: Any, session: Session) -> None:
    """Input the pty could not take yet (the session is busy) is retried shortly."""
    if session.flush_input() and not session.finished.is_set():
        reactor.callLater(0.05, _retry_input, reactor, session)


def _unix_factory(server: ShellServer, reactor: Any) -> Any:
    from twisted.internet import protocol

    class UnixShellProtocol(protocol.Protocol):
        session: Session | None = None

        def connectionMade(self) -> None:
            self.decoder = FrameDecoder()
            self.ended = False

        def dataReceived(self, data: bytes) -> None:
            try:
                for kind, payload in self.decoder.feed(data):
                    self._frame(kind, payload)
            except (ProtocolError, ValueError, TypeError, KeyError) as e:
                self._refuse("protocol error: %s" % e)

        def _refuse(self, why: str) -> None:
            if self.session is None:
                self.transport.write(encode(DATA, ("deployer: %s\r\n" % why).encode()))
                self.transport.write(encode_json(EXIT, {"status": 2}))
            self.transport.loseConnection()

        def _frame(self, kind: bytes, payload: bytes) -> None:
            if self.session is None:
                if kind == HELLO:
                    self._start(decode_json(payload), None)
                elif kind == ATTACH:
                    slot = server.claim_auxiliary(str(decode_json(payload).get("token", "")))
                    if slot is None:
                        raise ProtocolError("unknown or expired window token")
                    self._start(decode_json(payload), slot)
                else:
                    raise ProtocolError("expected a hello frame first, got %r" % kind)
                return
            if kind == DATA:
                self.session.feed(payload)
                _retry_input(reactor, self.session)
            elif kind == WINDOW:
                self.session.resize(*decode_size(payload))
            else:
                raise ProtocolError("unexpected frame %r" % kind)

        def _start(self, hello: dict[str, Any], slot: dict[str, Any] | None) -> None:
            options = _options_from_hello(hello)
            if slot is not None:
                session = server.new_session(options, self._send, "aux", run=server.aux_runner(slot))
                session.runs_cell = True
                slot["session"] = session
            else:
                session = server.new_session(options, self._send, "unix")
                session.request_window = self._request_window  # type: ignore[attr-defined]
            self.session = session
            _pty_reader(reactor, session, self._send, self._ended)
            session.start()

        def _send(self, data: bytes) -> None:
            if not self.ended and self.transport is not None:
                self.transport.write(encode(DATA, data))

        def _request_window(self, token: str) -> None:
            if not self.ended:
                self.transport.write(encode_json(OPEN_WINDOW, {"token": token}))

        def _ended(self) -> None:
            if self.session is not None:
                server.forget(self.session)
            if not self.ended:
                status = self.session.status if self.session and self.session.status is not None else 1
                self.transport.write(encode_json(EXIT, {"status": status}))
                self.transport.loseConnection()
            self.ended = True

        def connectionLost(self, reason: Any) -> None:
            self.ended = True
            if self.session is not None:
                self.session.close()

    factory = protocol.Factory()
    factory.protocol = UnixShellProtocol
    factory.noisy = False
    return factory


def _options_from_hello(hello: dict[str, Any]) -> SessionOptions:
    def as_int(value: Any, default: int) -> int:
        try:
            return max(1, min(int(value), 65535))
        except (TypeError, ValueError):
            return default

    path = hello.get("path") or []
    action = hello.get("action")
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise ProtocolError("path must be a list of names")
    if action is not None and (not isinstance(action, list) or not action
                               or not all(isinstance(a, str) for a in action)):
        raise ProtocolError("action must be a non-empty list of words")
    term = hello.get("term")
    return SessionOptions(rows=as_int(hello.get("rows"), 24), cols=as_int(hello.get("cols"), 80),
                          term=term if isinstance(term, str) and term.isprintable() and term else "xterm",
                          path=path, scp=bool(hello.get("scp")), action=action,
                          interactive=hello.get("interactive", True) is not False,
                          windows=bool(hello.get("windows")))


def _telnet_factory(server: ShellServer, reactor: Any) -> Any:
    import struct

    from twisted.conch import telnet
    from twisted.internet import protocol

    class TelnetShellProtocol(telnet.TelnetProtocol):
        session: Session | None = None

        def connectionMade(self) -> None:
            self.ended = False
            self.transport.negotiationMap[telnet.NAWS] = self._naws
            for opt in (telnet.ECHO, telnet.SGA):
                self.transport.will(opt).addErrback(lambda f: None)
            for opt in (telnet.NAWS, telnet.SGA):
                self.transport.do(opt).addErrback(lambda f: None)
            session = server.new_session(SessionOptions(), self._send, "telnet")
            self.session = session
            _pty_reader(reactor, session, self._send, self._ended)
            session.start()

        def enableLocal(self, option: bytes) -> bool:
            return option in (telnet.ECHO, telnet.SGA)

        def enableRemote(self, option: bytes) -> bool:
            return option in (telnet.NAWS, telnet.SGA)

        def disableLocal(self, option: bytes) -> None:
            pass

        def disableRemote(self, option: bytes) -> None:
            pass

        def _naws(self, data: list[bytes]) -> None:
            if len(data) == 4 and self.session is not None:
                cols, rows = struct.unpack("!HH", b"".join(data))
                if rows and cols:
                    self.session.resize(rows, cols)

        def unhandledCommand(self, command: bytes, argument: Any) -> None:
            # IAC IP (interrupt process) from line-mode clients: same as Ctrl-C.
            if command == telnet.IP and self.session is not None:
                self.session.feed(b"\x03")

        def dataReceived(self, data: bytes) -> None:
            if self.session is not None:
                self.session.feed(data.replace(b"\r\n", b"\r").replace(b"\r\x00", b"\r"))
                _retry_input(reactor, self.session)

        def _send(self, data: bytes) -> None:
            if not self.ended:
                self.transport.write(data)

        def _ended(self) -> None:
            if self.session is not None:
                server.forget(self.session)
            if not self.ended:
                self.transport.loseConnection()
            self.ended = True

        def connectionLost(self, reason: Any) -> None:
            self.ended = True
            if self.session is not None:
                self.session.close()

    factory = protocol.ServerFactory()
    factory.protocol = lambda: telnet.TelnetTransport(TelnetShellProtocol)
    factory.noisy = False
    return factory


def _run_reactor(reactor: Any, server: ShellServer, on_stop: Callable[[], None]) -> int:
    server.reactor = reactor

    def stop(*_: Any) -> None:
        server.stop_all()
        if reactor.running:
            reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        reactor.run(installSignalHandlers=False)
    finally:
        on_stop()
    return 0


def serve_unix(root: Any, socket_path: str | None = None, logger: Any = None, interactive: bool = True,
               spec: str = "", ready: Callable[[str], None] | None = None) -> int:
    """``listen``: serve shells on a unix socket until SIGTERM/SIGINT. Returns the exit status."""
    from twisted.internet import reactor

    from deployer.shell.sessions import default_socket_path, register, socket_is_live, unregister

    path = os.path.abspath(socket_path or default_socket_path())
    if os.path.exists(path):
        if socket_is_live(path):
            sys.stderr.write("A server is already listening on %s\n" % path)
            return 1
        os.unlink(path)  # left by a server that died
    server = ShellServer(root, logger=logger, interactive=interactive)
    from twisted.internet.error import CannotListenError

    old_umask = os.umask(0o177)  # no window in which the socket is readable by others
    try:
        reactor.listenUNIX(path, _unix_factory(server, reactor), mode=0o600)
    except CannotListenError as e:
        sys.stderr.write("Cannot listen on %s: %s\n" % (path, e.socketError))
        return 1
    finally:
        os.umask(old_umask)
    entry = register(path, spec)

    def cleanup() -> None:
        unregister(entry)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    sys.stdout.write("deployer: listening on unix socket %s (pid %d)\n" % (path, os.getpid()))
    sys.stdout.write("Attach a shell with: %s\n" % _connect_hint(spec, path))
    sys.stdout.flush()
    if ready is not None:
        ready(path)
    return _run_reactor(reactor, server, cleanup)


def _connect_hint(spec: str, path: str) -> str:
    if spec:
        return "deployer connect %s --socket %s" % (spec, path)
    return "%s connect --socket %s" % (os.path.basename(sys.argv[0]), path)


def serve_telnet(root: Any, port: int | None = None, logger: Any = None, interactive: bool = True) -> int:
    """``telnet-server``: serve shells over telnet on 127.0.0.1 only, until SIGTERM/SIGINT."""
    from twisted.internet import reactor

    from deployer.client import DEFAULT_TELNET_PORT

    from twisted.internet.error import CannotListenError

    server = ShellServer(root, logger=logger, interactive=interactive)
    try:
        listening = reactor.listenTCP(DEFAULT_TELNET_PORT if port is None else port,
                                      _telnet_factory(server, reactor), interface="127.0.0.1")
    except CannotListenError as e:
        sys.stderr.write("Cannot listen on 127.0.0.1:%s: %s\n" % (port, e.socketError))
        return 1
    actual = listening.getHost().port
    sys.stdout.write("deployer: telnet server listening on 127.0.0.1:%d (loopback only; "
                     "anyone with an account on this machine can connect)\n" % actual)
    sys.stdout.flush()
    return _run_reactor(reactor, server, lambda: None)
