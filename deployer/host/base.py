"""Everything a host does, written once: :class:`Host`, :class:`HostContext`, :class:`Stat`.

A transport (:mod:`deployer.host.local`, :mod:`deployer.host.ssh`) supplies only
small primitives: start a :class:`Process` (with or without a pty) and a few file
operations. Command building (cd/env/prefix, sudo, sandbox, user), the output
loop, sudo password answering, timeouts, exit statuses, events and interrupts
live here. In a parallel cell (:mod:`deployer.execution.cancel`) a command takes
no keys from the shared terminal, and stops (its process killed, remote ones
included) as soon as the cell is cancelled by Ctrl-C::

    class MyHost(SSHHost):
        address = 'example.com'
        username = 'deploy'

    host = MyHost()
    with host.cd('/srv/app'), host.env('LANG', 'C'):
        print(host.run('git log -1', interactive=False))
    host.sudo('systemctl restart app')
"""
from __future__ import annotations

import abc
import codecs
import contextlib
import io
import os
import posixpath
import secrets
import signal
import termios
import threading
import time
import tty
import uuid
from typing import IO, Any, Iterator

from deployer.execution import cancel
from deployer.exceptions import (CommandTimeoutException, ExecCommandFailed,
                                 SudoPasswordException)
# Re-exported: the documented home of HostContext and Stat is deployer.host.base.
from deployer.host.context import HostContext, quote, shell_path
from deployer.host.files import Stat, _DiscardFile, _FileAdapter, _wrap_file
from deployer.host.process import Process
from deployer.loggers.base import Logger, NullLogger
from deployer.loggers.events import (CommandFinished, CommandOutput, CommandStarted,
                                     FileTransferred)
from deployer.loggers.masking import mask_text, stream_masker
from deployer.pseudo_terminal import Pty, select

__all__ = ["Host", "HostContext", "Stat", "Process"]

#: Lines of output kept in ``CommandFinished.output_tail``.
OUTPUT_TAIL_LINES = 20
_READ_SIZE = 65536
#: How often a command's wait wakes up in a thread that cannot get SIGINT.
_WAKE_INTERVAL = 0.25


class _TokenScanner:
    """Finds tokens in a byte stream, even when a token is split over chunks."""

    def __init__(self, tokens: list[bytes]) -> None:
        self.tokens = tokens
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes | tuple[bytes]]:
        """Plain byte segments, and 1-tuples for each token found, in stream order."""
        buf = self._pending + data
        out: list[bytes | tuple[bytes]] = []
        while True:
            hits = [(buf.find(t), t) for t in self.tokens]
            hits = [(i, t) for i, t in hits if i >= 0]
            if not hits:
                break
            i, token = min(hits)
            if i:
                out.append(buf[:i])
            out.append((token,))
            buf = buf[i + len(token):]
        # Hold back a tail that could be the start of a token.
        keep = 0
        for token in self.tokens:
            for n in range(min(len(token) - 1, len(buf)), 0, -1):
                if buf.endswith(token[:n]):
                    keep = max(keep, n)
                    break
        if len(buf) > keep:
            out.append(buf[:len(buf) - keep])
        self._pending = buf[len(buf) - keep:] if keep else b""
        return out

    def flush(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending


class Host(abc.ABC):
    """Abstract base class for :class:`~deployer.host.ssh.SSHHost` and :class:`~deployer.host.local.LocalHost`.

    :param pty: the terminal commands read from and write to (default: this process's).
    :param logger: receives a ``CommandStarted``/``CommandOutput``/``CommandFinished``
        event for every command (default: :class:`~deployer.loggers.NullLogger`).
    """

    #: A unique identifier for the host (defaults per transport when empty).
    slug: str = ""
    #: Username for connecting to the host.
    username: str = ""
    #: Password for connecting to the host, and for sudo.
    password: str = ""

    _slug_is_default = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A default slug follows the class's own settings (e.g. its address),
        # not an ancestor's.
        if cls.__dict__.get("slug"):
            cls._slug_is_default = False
        elif not cls.slug or cls._slug_is_default:
            cls.slug = cls._default_slug()
            cls._slug_is_default = True

    @classmethod
    def _default_slug(cls) -> str:
        return ""

    def __init__(self, pty: Pty | None = None, logger: Logger | None = None) -> None:
        self.pty: Pty = pty if pty is not None else Pty()
        self.logger: Logger = logger if logger is not None else NullLogger()
        self.context = HostContext()

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.slug)

    # -- transport primitives (overridden by LocalHost / SSHHost) ------------

    @abc.abstractmethod
    def _start_process(self, command: str, pty: bool, term: str, size: tuple[int, int]) -> Process:
        """Start ``command`` (a shell command line) with or without a pty."""
        raise NotImplementedError

    @abc.abstractmethod
    def _open_binary(self, path: str, mode: str) -> Any:
        """Open a file in binary ``mode`` ('r', 'w', 'a', 'r+', ... without 'b')."""
        raise NotImplementedError

    @abc.abstractmethod
    def _listdir_stat(self, path: str) -> list[Stat]:
        raise NotImplementedError

    @abc.abstractmethod
    def _get(self, remote_path: str, local_path: str) -> None:
        raise NotImplementedError

    @abc.abstractmethod
    def _put(self, local_path: str, remote_path: str) -> None:
        raise NotImplementedError

    @abc.abstractmethod
    def _remove(self, path: str) -> None:
        raise NotImplementedError

    # -- context -------------------------------------------------------------

    def cd(self, path: str, expand: bool = False) -> contextlib.AbstractContextManager[None]:
        """Shortcut for ``host.context.cd(...)``."""
        return self.context.cd(path, expand=expand)

    def env(self, variable: str, value: str, escape: bool = True) -> contextlib.AbstractContextManager[None]:
        """Shortcut for ``host.context.env(...)``."""
        return self.context.env(variable, value, escape=escape)

    def prefix(self, command: str) -> contextlib.AbstractContextManager[None]:
        """Shortcut for ``host.context.prefix(...)``."""
        return self.context.prefix(command)

    def copy(self, pty: Pty | None = None, logger: Logger | None = None) -> "Host":
        """A new instance sharing this one's connection, with a copy of its context.

        (The pty parameter binds the copy to another terminal.)
        """
        clone = type(self)(pty=pty if pty is not None else self.pty,
                           logger=logger if logger is not None else self.logger)
        clone.context = self.context.copy()
        return clone

    # -- commands ------------------------------------------------------------

    def run(self, command: str, use_sudo: bool = False, sandbox: bool = False, interactive: bool = True,
            user: str | None = None, ignore_exit_status: bool = False, initial_input: str | None = None,
            silent: bool = False, timeout: float | None = None) -> str:
        """Execute this shell command on the host and return its output.

        :param use_sudo: run as superuser (sudo's password prompt is answered from ``password``).
        :param sandbox: only check the syntax (``bash -n``); nothing is executed.
        :param interactive: give the command a pty wired to ``self.pty`` (input, size);
            otherwise no pty, stdin closed, stdout and stderr collected together.
        :param user: run as this user (through sudo).
        :param ignore_exit_status: return the output even when the command fails,
            instead of raising :class:`~deployer.exceptions.ExecCommandFailed`.
        :param initial_input: when interactive, send this input first.
        :param silent: don't write the output to ``self.pty``.
        :param timeout: stop the command and raise
            :class:`~deployer.exceptions.CommandTimeoutException` after this many seconds.
        """
        output, _status = self._execute(command, use_sudo=use_sudo, sandbox=sandbox, interactive=interactive,
                                        user=user, ignore_exit_status=ignore_exit_status,
                                        initial_input=initial_input, silent=silent, timeout=timeout)
        return output

    def sudo(self, command: str, use_sudo: bool = True, sandbox: bool = False, interactive: bool = True,
             user: str | None = None, ignore_exit_status: bool = False, initial_input: str | None = None,
             silent: bool = False, timeout: float | None = None) -> str:
        """Wrapper around :meth:`run` which uses sudo."""
        return self.run(command, use_sudo=True, sandbox=sandbox, interactive=interactive, user=user,
                        ignore_exit_status=ignore_exit_status, initial_input=initial_input,
                        silent=silent, timeout=timeout)

    def _secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def _mask(self, text: str) -> str:
        return mask_text(text, self._secrets())

    def _execute(self, command: str, use_sudo: bool = False, sandbox: bool = False, interactive: bool = True,
                 user: str | None = None, ignore_exit_status: bool = False, initial_input: str | None = None,
                 silent: bool = False, timeout: float | None = None,
                 use_context: bool = True) -> tuple[str, int | None]:
        """Run a command; return ``(output, exit status)``. ``run()`` and the file helpers use it."""
        use_sudo = bool(use_sudo or user)
        full = self.context.build(command) if use_context else command
        sudo_tokens: tuple[bytes, bytes] | None = None
        if sandbox:
            # Nothing runs, so no privileges are needed: sudo is not involved.
            wrapped = "bash -n -c %s" % quote(full)
        elif use_sudo:
            prompt = "[deployer-sudo-%s] " % secrets.token_hex(8)
            marker = "DEPLOYER-SUDO-OK-%s" % secrets.token_hex(8)
            sudo_tokens = (prompt.encode(), marker.encode())
            # -S: the password comes on stdin when *we* see our own prompt, never
            # on a command line. The marker tells us sudo is done asking.
            wrapped = "sudo -S -p %s %s-- bash -c %s" % (
                quote(prompt), ("-u %s " % quote(user)) if user else "",
                quote("printf %s %s; %s" % ("'%s'", marker, full)))
        else:
            wrapped = full

        command_id = uuid.uuid4().hex
        slug = self.slug or type(self).__name__
        self.logger.emit(CommandStarted(command_id=command_id, host=slug, command=self._mask(command),
                                        use_sudo=use_sudo, sandbox=sandbox))
        started = time.monotonic()
        chunks: list[str] = []
        status: int | None = None
        error: str | None = None
        try:
            status = self._drive(command, wrapped, command_id, slug, chunks, sudo_tokens=sudo_tokens,
                                 interactive=interactive, initial_input=initial_input,
                                 silent=silent, timeout=timeout)
            output = "".join(chunks)
            if status != 0 and not ignore_exit_status:
                raise ExecCommandFailed(command, self, use_sudo, status, output)
            return output, status
        except BaseException as e:
            error = self._mask("%s: %s" % (type(e).__name__, e))
            raise
        finally:
            tail = "".join(chunks).splitlines()[-OUTPUT_TAIL_LINES:]
            self.logger.emit(CommandFinished(
                command_id=command_id, host=slug, command=self._mask(command), exit_code=status,
                duration=time.monotonic() - started, output_tail=self._mask("\n".join(tail)),
                error=error, use_sudo=use_sudo, sandbox=sandbox))

    def _input_fd(self) -> int | None:
        """The pty's input descriptor, when there is a real one to forward."""
        try:
            fd = self.pty.stdin.fileno()
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            return None
        return fd if isinstance(fd, int) and fd >= 0 else None

    def _drive(self, command: str, wrapped: str, command_id: str, slug: str, chunks: list[str], *,
               sudo_tokens: tuple[bytes, bytes] | None, interactive: bool, initial_input: str | None,
               silent: bool, timeout: float | None) -> int | None:
        """Start the process and pump its output until it ends; return its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        scope = cancel.current()
        if scope is not None:
            scope.check()
        cancel_fd = scope.fileno() if scope is not None else None
        # Only the main thread gets SIGINT inside select; other threads are
        # interrupted asynchronously (shell servers), which lands only when
        # Python runs: wake up now and then for them. Parallel cells wake on
        # their cancel descriptor instead.
        wake = None if (scope is not None or threading.current_thread() is threading.main_thread()) \
            else _WAKE_INTERVAL
        size = self.pty.get_size() if interactive else (24, 80)
        proc = self._start_process(wrapped, pty=interactive, term=self.pty.term_var if interactive else "",
                                   size=size)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        scanner = _TokenScanner(list(sudo_tokens)) if sudo_tokens else None
        prompts = 0
        after_prompt = False
        # Cells that share one terminal must not take its keys (nor raw mode): a
        # Ctrl-C would reach one command instead of interrupting the action.
        forward_fd = self._input_fd() if interactive and not (scope is not None and scope.shares_input) else None
        pending_input = initial_input.encode("utf-8") if (interactive and initial_input) else b""
        out = self.pty.stdout
        # Events get the output masked; a secret split over two chunks too.
        masker = stream_masker(self._secrets(), self.logger)

        def log_output(text: str) -> None:
            if text:
                self.logger.emit(CommandOutput(command_id=command_id, host=slug, data=text))

        def emit(data: bytes, final: bool = False) -> None:
            text = decoder.decode(data, final)
            if not text:
                return
            chunks.append(text)
            if not silent:
                with self.pty.write_lock:
                    out.write(text)
                    out.flush()
            log_output(masker.feed(text))

        def sudo_done() -> None:
            nonlocal pending_input
            if pending_input:
                proc.write(pending_input)
                pending_input = b""
            if not interactive:
                proc.close_stdin()

        def handle(data: bytes) -> None:
            nonlocal scanner, prompts, after_prompt
            if scanner is None:
                emit(data)
                return
            items = scanner.feed(data)
            for n, item in enumerate(items):
                if isinstance(item, bytes):
                    # Still sudo talking: scrub the answer's echo, if any.
                    text = item
                    if after_prompt:
                        text = text.lstrip(b"\r\n")
                        after_prompt = not text
                    for secret in self._secrets():
                        text = text.replace(secret.encode(), b"********")
                    emit(text)
                elif item[0] == sudo_tokens[1]:  # type: ignore[index]
                    # sudo is done: from here on, the bytes are the command's own.
                    rest = b"".join(i if isinstance(i, bytes) else i[0] for i in items[n + 1:])
                    rest += scanner.flush()
                    scanner = None
                    sudo_done()
                    if rest:
                        emit(rest)
                    return
                else:
                    prompts += 1
                    if not self.password:
                        raise SudoPasswordException(self, command, "sudo asks for a password and the host "
                                                                   "has none (set Host.password)")
                    if prompts > 1:
                        raise SudoPasswordException(self, command, "wrong sudo password (Host.password)")
                    proc.write(self.password.encode("utf-8") + b"\n")
                    after_prompt = True

        try:
            if sudo_tokens is None:
                if pending_input:
                    proc.write(pending_input)
                    pending_input = b""
                if not interactive:
                    proc.close_stdin()
            with self._raw_input(forward_fd), self._winch_pipe(interactive) as winch_fd:
                proc_fd = proc.fileno()
                while True:
                    fds = [proc_fd]
                    # Until sudo is done, typed input would be taken as the password.
                    if forward_fd is not None and scanner is None:
                        fds.append(forward_fd)
                    if winch_fd is not None:
                        fds.append(winch_fd)
                    if cancel_fd is not None:
                        fds.append(cancel_fd)
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise CommandTimeoutException(self, command, timeout)  # type: ignore[arg-type]
                    if wake is not None:
                        remaining = wake if remaining is None else min(remaining, wake)
                    ready = select(fds, [], [], remaining)[0]
                    if cancel_fd is not None and cancel_fd in ready:
                        scope.check()  # type: ignore[union-attr]
                    if winch_fd is not None and winch_fd in ready:
                        os.read(winch_fd, 1024)
                        rows, cols = self.pty.get_size()
                        proc.resize(rows, cols)
                    if forward_fd is not None and forward_fd in ready:
                        data = os.read(forward_fd, 4096)
                        if data:
                            proc.write(data)
                        else:
                            forward_fd = None  # our input ended; the command's continues
                    if proc_fd in ready:
                        data = proc.read()
                        if data == b"":
                            break
                        if data:
                            handle(data)
            if scanner is not None:
                emit(scanner.flush())
            emit(b"", final=True)
            return self._wait_exit(proc, command, timeout, deadline, scope, wake)
        except BaseException:
            proc.kill()
            raise
        finally:
            try:
                log_output(masker.flush())
            finally:
                proc.close()

    def _wait_exit(self, proc: Process, command: str, timeout: float | None, deadline: float | None,
                   scope: Any, wake: float | None) -> int | None:
        """The exit status, once the output ended (usually at once)."""
        step = _WAKE_INTERVAL if (scope is not None or wake is not None) else None
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if step is not None:
                remaining = step if remaining is None else min(remaining, step)
            try:
                return proc.wait(remaining)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise CommandTimeoutException(self, command, timeout) from None  # type: ignore[arg-type]
                if scope is not None:
                    scope.check()

    @contextlib.contextmanager
    def _raw_input(self, fd: int | None) -> Iterator[None]:
        """Raw mode on a terminal input while a command owns it (keys go to the command)."""
        if fd is None or not os.isatty(fd):
            yield
            return
        try:
            saved = termios.tcgetattr(fd)
            tty.setraw(fd, termios.TCSANOW)  # keep keys typed ahead
        except termios.error:
            yield
            return
        try:
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    @contextlib.contextmanager
    def _winch_pipe(self, interactive: bool) -> Iterator[int | None]:
        """A descriptor readable after each SIGWINCH (only the main thread gets signals)."""
        if not interactive or threading.current_thread() is not threading.main_thread():
            yield None
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)

        def on_winch(signum: int, frame: Any) -> None:
            try:
                os.write(write_fd, b"w")
            except OSError:
                pass  # pipe full: a resize is already pending

        try:
            previous = signal.signal(signal.SIGWINCH, on_winch)
        except ValueError:
            os.close(read_fd)
            os.close(write_fd)
            yield None
            return
        try:
            yield read_fd
        finally:
            signal.signal(signal.SIGWINCH, previous)
            os.close(read_fd)
            os.close(write_fd)

    def start_interactive_shell(self, command: str | None = None, initial_input: str | None = None,
                                sandbox: bool = False) -> str:
        """Start an interactive bash shell (or ``command``) wired to this host's pty."""
        return self.run(command or "bash", interactive=True, ignore_exit_status=True,
                        initial_input=initial_input, sandbox=sandbox)

    # -- queries -------------------------------------------------------------

    def _quiet(self, command: str, use_sudo: bool = False, use_context: bool = True,
               ignore_exit_status: bool = False) -> tuple[str, int | None]:
        return self._execute(command, use_sudo=use_sudo, interactive=False, silent=True,
                             ignore_exit_status=ignore_exit_status, use_context=use_context)

    def exists(self, filename: str, use_sudo: bool = True, **kw: Any) -> bool:
        """True when a file (or directory) named ``filename`` exists on this host."""
        _, status = self._quiet("test -e %s" % shell_path(filename), use_sudo=use_sudo, ignore_exit_status=True)
        return status == 0

    def getcwd(self) -> str:
        """The current working directory (after ``cd`` contexts), as an absolute path."""
        return self._quiet("pwd")[0].strip()

    def get_start_path(self) -> str:
        """The absolute path commands start in when no ``cd`` is used (usually the home directory)."""
        return self._quiet("pwd", use_context=False)[0].strip()

    def ifconfig(self) -> Any:
        """The network information for this host, as an ``IfConfig``."""
        from deployer.utils.network import parse_ifconfig_output

        output = self._quiet("/sbin/ifconfig -a 2>/dev/null || ifconfig -a 2>/dev/null || ip addr show",
                             use_context=False)[0]
        return parse_ifconfig_output(output)

    def get_ip_address(self, interface: str = "eth0") -> str | None:
        """The IPv4 address of this interface."""
        return self.ifconfig().get_interface(interface).ip

    def _resolve_path(self, path: str) -> str:
        """A path the file primitives understand: absolute, or relative to the start path."""
        if path.startswith("~"):
            return self._quiet("printf '%%s' %s" % shell_path(path), use_context=False)[0]
        if posixpath.isabs(path) or not self.context.has_cd:
            return path
        return posixpath.join(self.getcwd(), path)

    def listdir_stat(self, path: str = ".") -> list[Stat]:
        """A :class:`Stat` for each entry of this directory."""
        return self._listdir_stat(self._resolve_path(path))

    # -- files ---------------------------------------------------------------

    def _file_event(self, direction: str, remote_path: str, local_path: str = "", mode: str = "",
                    sandbox: bool = False) -> None:
        self.logger.emit(FileTransferred(host=self.slug or type(self).__name__, direction=direction,
                                         remote_path=remote_path, local_path=local_path, mode=mode,
                                         sandbox=sandbox))

    def _mktemp(self) -> str:
        return self._quiet("mktemp", use_context=False)[0].strip()

    def _sudo_copy(self, source: str, target: str) -> None:
        # cat into the target keeps an existing file's owner and mode.
        self._quiet("cat -- %s > %s" % (quote(source), quote(target)), use_sudo=True, use_context=False)

    def open(self, remote_path: str, mode: str = "rb", use_sudo: bool = False, sandbox: bool = False) -> IO:
        """Open a file on the host; 'b' in ``mode`` gives bytes, else text (UTF-8)::

            with host.open('/path/to/somefile', 'wb') as f:
                f.write(b'some content')
        """
        bare = mode.replace("b", "").replace("t", "")
        if not bare or bare[0] not in "rwax":
            raise ValueError("invalid mode: %r" % (mode,))
        writes = any(c in bare for c in "wax+")
        path = self._resolve_path(remote_path)
        self._file_event("open", path, mode=mode, sandbox=sandbox)
        if sandbox and writes:
            if "+" in bare or bare[0] == "a":
                raise ValueError("sandboxed open() supports reading or writing, not both")
            return _wrap_file(_FileAdapter(_DiscardFile(), bare), mode)
        if not use_sudo:
            return _wrap_file(_FileAdapter(self._open_binary(path, bare), bare), mode)

        # sudo: work on a temp file of ours, copied in and out with sudo.
        tmp = self._mktemp()
        try:
            if bare[0] == "r" or (bare[0] == "a" and self.exists(path, use_sudo=True)):
                self._sudo_copy(path, tmp)
            f = self._open_binary(tmp, bare)
        except BaseException:
            self._remove(tmp)
            raise
        if not writes:
            self._remove(tmp)  # the open handle keeps the data readable
            return _wrap_file(_FileAdapter(f, bare), mode)

        def write_back() -> None:
            try:
                self._sudo_copy(tmp, path)
            finally:
                self._remove(tmp)

        return _wrap_file(_FileAdapter(f, bare, on_close=write_back), mode)

    def get_file(self, remote_path: str, local_path: str, use_sudo: bool = False, sandbox: bool = False) -> None:
        """Download this remote file.

        In sandbox mode nothing is written: without sudo, only check that the
        remote file can be read; with sudo, only check the syntax of the copy
        command (``bash -n``; sudo is not involved).
        """
        path = self._resolve_path(remote_path)
        self._file_event("get", path, local_path=local_path, sandbox=sandbox)
        if sandbox:
            if use_sudo:
                self._execute("cat -- %s >/dev/null" % quote(path), sandbox=True, interactive=False, silent=True,
                              use_context=False)
                return
            _, status = self._quiet("test -r %s" % quote(path), use_context=False, ignore_exit_status=True)
            if status != 0:
                raise FileNotFoundError("host %r: cannot read remote file %s (sandbox check of get_file)"
                                        % (self.slug or type(self).__name__, path))
            return
        if not use_sudo:
            self._get(path, local_path)
            return
        tmp = self._mktemp()
        try:
            self._sudo_copy(path, tmp)
            self._get(tmp, local_path)
        finally:
            self._remove(tmp)

    def put_file(self, local_path: str, remote_path: str, use_sudo: bool = False, sandbox: bool = False) -> None:
        """Upload this local file (in sandbox mode: only check that it can be read)."""
        path = self._resolve_path(remote_path)
        self._file_event("put", path, local_path=local_path, sandbox=sandbox)
        if sandbox:
            with open(local_path, "rb"):
                return
        if not use_sudo:
            self._put(local_path, path)
            return
        tmp = self._mktemp()
        try:
            self._put(local_path, tmp)
            self._sudo_copy(tmp, path)
        finally:
            self._remove(tmp)
