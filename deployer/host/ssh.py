"""``SSHHost``: run commands and move files over SSH (paramiko).

One connection per host class per process (:mod:`deployer.host.connections`):
each command opens a new channel on it, file operations share one SFTP client::

    class WebServer(SSHHost):
        slug = 'webserver'
        address = 'example.com'
        username = 'jonathan'
        key_filename = '~/.ssh/id_ed25519'

    WebServer().run('uptime', interactive=False)
"""
from __future__ import annotations

import getpass
import io
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from deployer.exceptions import (AuthenticationFailedException, ConnectionFailedException,
                                 HostKeyMismatchException)
from deployer.host import connections
from deployer.host.base import Host, Process, Stat

__all__ = ["SSHHost"]

T = TypeVar("T")


@dataclass
class _Target:
    """Where to connect, after applying ~/.ssh/config."""
    alias: str
    hostname: str
    port: int
    username: str
    key_filenames: list[str] = field(default_factory=list)
    proxycommand: str | None = None
    proxyjump: str | None = None

    @property
    def name(self) -> str:
        """The name known_hosts uses for this target."""
        return self.hostname if self.port == 22 else "[%s]:%d" % (self.hostname, self.port)


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__("unknown host key for %s" % hostname)
        self.hostname = hostname
        self.key = key


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


class _AcceptUnknown(paramiko.MissingHostKeyPolicy):
    # The explicit opt-out (verify_host_key = False): accept, remember nothing.
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


_key_cache: dict[tuple[str, int, int], paramiko.PKey] = {}
_key_cache_lock = threading.Lock()


def _load_key_file(path: str) -> paramiko.PKey | None:
    """The unencrypted private key in ``path``, parsed once per version of the file.

    None when it cannot be loaded here (encrypted, unknown type, unreadable):
    paramiko then loads it itself and reports the problem.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    with _key_cache_lock:
        found = _key_cache.get(key)
    if found is not None:
        return found
    try:
        loaded = paramiko.PKey.from_path(path)
    except Exception:  # noqa: BLE001 -- any problem: let paramiko's own loading report it
        return None
    with _key_cache_lock:
        _key_cache[key] = loaded
    return loaded


class _KnownHostsFile:
    """One version of a parsed known_hosts file, and the names looked up in it."""

    def __init__(self, content: bytes, host_keys: paramiko.HostKeys) -> None:
        self.content = content
        self._host_keys = host_keys
        self._by_name: dict[str, list[tuple[str, paramiko.PKey]]] = {}

    def keys_for(self, name: str) -> list[tuple[str, paramiko.PKey]]:
        found = self._by_name.get(name)
        if found is None:
            keys = self._host_keys.lookup(name)
            found = self._by_name[name] = [] if keys is None else [(t, keys[t]) for t in keys.keys()]
        return found


_known_hosts_cache: dict[str, _KnownHostsFile] = {}
_known_hosts_lock = threading.Lock()


def _known_host_keys(path: str, name: str) -> list[tuple[str, paramiko.PKey]]:
    """The ``(key type, key)`` pairs the known_hosts file ``path`` lists for ``name``, in file order.

    paramiko's ``HostKeys.load`` checks every line against all lines before it,
    so one load costs O(lines²): done per connection, a 50-host fan-out spent
    about half of its client CPU there. The file is parsed once per content (a
    changed file is parsed again on its next use) and each name looked up once.
    """
    with _known_hosts_lock:  # one thread parses; the others wait, then hit the cache
        try:
            with open(path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            return []
        parsed = _known_hosts_cache.get(path)
        if parsed is None or parsed.content != content:
            parsed = _KnownHostsFile(content, paramiko.HostKeys(path))
            with open(path, "rb") as f:
                if f.read() != content:
                    # Rewritten while we parsed it: use what we got, parse again next time.
                    return parsed.keys_for(name)
            _known_hosts_cache[path] = parsed
        return parsed.keys_for(name)


class _SSHConnection:
    """A live SSH connection: the transport, its session slots and its one SFTP client."""

    def __init__(self, client: paramiko.SSHClient, hops: list[paramiko.SSHClient], max_sessions: int) -> None:
        self.client = client
        self.transport: paramiko.Transport = client.get_transport()  # type: ignore[assignment]
        self.hops = hops
        # sshd refuses more than MaxSessions channels per connection: queue instead.
        self.slots = threading.BoundedSemaphore(max(1, max_sessions))
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    def alive(self) -> bool:
        return self.transport.is_active()

    def open_session(self, timeout: float) -> paramiko.Channel:
        self.slots.acquire()
        try:
            return self.transport.open_session(timeout=timeout)
        except BaseException:
            self.slots.release()
            raise

    def sftp(self) -> paramiko.SFTPClient:
        with self._sftp_lock:
            if self._sftp is None:
                self.slots.acquire()
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self.transport)
                except BaseException:
                    self.slots.release()
                    raise
            return self._sftp

    def close(self) -> None:
        for client in [self.client] + self.hops[::-1]:
            try:
                client.close()
            except Exception:
                pass


def _send_while_open(chan: paramiko.Channel, build: Callable[[], Optional[Message]]) -> None:
    """Send ``build()``'s message on ``chan`` unless the channel is already closed.

    paramiko builds a channel's EOF or CLOSE under the channel lock but sends it
    after releasing the lock. An EOF (or signal) of ours could then leave after
    the CLOSE the transport thread sends when the server closes a finished
    command, and OpenSSH drops the *whole connection* on a message for a channel
    it has freed. Checking and sending under the lock, as paramiko's own
    ``Channel.send`` does for data, keeps the order right.
    """
    with chan.lock:
        if chan.closed or not chan.active:
            return
        try:
            m = build()
            if m is not None:
                chan.transport._send_user_message(m)  # type: ignore[union-attr]
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the connection is gone; wait() reports why


class _SSHProcess(Process):
    def __init__(self, host: "SSHHost", conn: _SSHConnection, channel: paramiko.Channel) -> None:
        self._host = host
        self._conn = conn
        self._chan = channel
        self._fd = channel.fileno()
        self._closed = False

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes | None:
        chan = self._chan
        if chan.recv_ready():
            return chan.recv(65536)
        if chan.eof_received or chan.closed:
            return b""
        return None

    def write(self, data: bytes) -> None:
        try:
            self._chan.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the channel is gone; wait() reports why

    def close_stdin(self) -> None:
        _send_while_open(self._chan, self._chan._send_eof)

    def wait(self, timeout: float | None) -> int | None:
        chan = self._chan
        if not chan.status_event.wait(timeout):
            raise TimeoutError()
        status = chan.exit_status
        if status == -1:
            # No exit status: either killed by a signal (the server still sent
            # EOF) or the connection died under us.
            if not self._conn.alive() or not chan.eof_received:
                connections.cache.discard(type(self._host), self._conn)
                raise ConnectionFailedException(
                    self._host, "the connection to %s was lost while the command was running"
                    % self._host._describe())
            return None
        return status

    def kill(self) -> None:
        chan = self._chan

        def signal() -> Message:
            # The 'signal' channel request (RFC 4254 6.9; OpenSSH >= 7.9) stops a
            # command that has no pty; closing the channel hangs up one that has.
            m = Message()
            m.add_byte(cMSG_CHANNEL_REQUEST)
            m.add_int(chan.remote_chanid)
            m.add_string("signal")
            m.add_boolean(False)
            m.add_string("KILL")
            return m

        _send_while_open(chan, signal)
        try:
            chan.close()
        except Exception:
            pass

    def resize(self, rows: int, cols: int) -> None:
        try:
            self._chan.resize_pty(width=cols, height=rows)
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._chan.close()
        finally:
            self._conn.slots.release()


class SSHHost(Host):
    """SSH Host.

    For the authentication, provide a password, a ``key_filename``, an ``rsa_key``,
    keys in a running ssh-agent, or an ``IdentityFile`` in ``config_filename``.
    """

    #: SSH address (an alias from ``config_filename`` works too).
    address: str = ""
    #: SSH port (the config's ``Port`` applies while this is 22).
    port: int = 22
    #: SSH username (default: the config's ``User``, else the local user).
    username: str = ""
    #: Password for login (if keys fail) and for sudo.
    password: str = ""
    #: Private key filename (optional).
    key_filename: str | None = None
    #: Private key as a string, or a ``paramiko.PKey`` (optional).
    rsa_key: Any = None
    #: Passphrase of ``rsa_key`` / ``key_filename`` (optional).
    rsa_key_password: str | None = None
    #: SSH config file honoured for HostName, Port, User, IdentityFile, ProxyJump,
    #: ProxyCommand (None: don't read one).
    config_filename: str | None = "~/.ssh/config"
    #: Seconds between keep-alive packets; a dead peer is noticed within about
    #: ``keepalive_interval + timeout`` seconds.
    keepalive_interval: int = 30
    #: Connection timeout in seconds.
    timeout: float = 10
    #: known_hosts file the host key is checked against.
    known_hosts_filename: str = "~/.ssh/known_hosts"
    #: Set to False only for throwaway hosts: accept any host key.
    verify_host_key: bool = True
    #: Also use keys from a running ssh-agent.
    allow_agent: bool = True
    #: Channels open at once on the connection (sshd's MaxSessions, default 10).
    max_sessions: int = 10

    @classmethod
    def _default_slug(cls) -> str:
        return cls.address or ""

    def _describe(self) -> str:
        return "%s:%s" % (self.address, self.port)

    # -- settings --------------------------------------------------------------

    def _ssh_config(self) -> paramiko.SSHConfig | None:
        if not self.config_filename:
            return None
        path = os.path.expanduser(self.config_filename)
        if not os.path.exists(path):
            return None
        try:
            return paramiko.SSHConfig.from_path(path)
        except Exception as e:
            raise ConnectionFailedException(self, "cannot read ssh config %s: %s" % (path, e)) from None

    def _target(self, config: paramiko.SSHConfig | None, spec: str | None = None) -> _Target:
        """The connection settings for this host, or for a ProxyJump hop ``[user@]host[:port]``."""
        if spec is None:
            alias, user, port = self.address, self.username, self.port
        else:
            user, _, hostport = spec.rpartition("@")
            alias, _, port_text = hostport.partition(":")
            port = int(port_text) if port_text else 22
        if not alias:
            raise ConnectionFailedException(self, "no address set on the host class")
        opts: dict[str, Any] = dict(config.lookup(alias)) if config is not None else {}
        if port == 22 and "port" in opts:
            port = int(opts["port"])
        keys: list[str] = []
        if spec is None and self.key_filename:
            keys = [self.key_filename]
        elif opts.get("identityfile"):
            keys = list(opts["identityfile"])
        keys = [os.path.expanduser(k) for k in keys]
        proxycommand = opts.get("proxycommand")
        proxyjump = opts.get("proxyjump")
        return _Target(alias=alias, hostname=opts.get("hostname", alias), port=port,
                       username=user or opts.get("user") or getpass.getuser(), key_filenames=keys,
                       proxycommand=None if (proxycommand or "none").lower() == "none" else proxycommand,
                       proxyjump=None if (proxyjump or "none").lower() == "none" else proxyjump)

    def _pkey(self) -> paramiko.PKey | None:
        if self.rsa_key is None:
            return None
        if isinstance(self.rsa_key, paramiko.PKey):
            return self.rsa_key
        errors = []
        for cls in (paramiko.RSAKey, paramiko.Ed25519Key, paramiko.ECDSAKey):
            try:
                return cls.from_private_key(io.StringIO(self.rsa_key), password=self.rsa_key_password)
            except paramiko.PasswordRequiredException:
                raise AuthenticationFailedException(self, "rsa_key is encrypted: set rsa_key_password") from None
            except (paramiko.SSHException, ValueError) as e:
                errors.append(str(e))
        raise AuthenticationFailedException(self, "cannot load rsa_key: %s" % "; ".join(errors))

    # -- connecting ------------------------------------------------------------

    def _connection(self) -> _SSHConnection:
        return connections.cache.get(type(self), self._connect, _SSHConnection.alive)

    def _connect(self) -> _SSHConnection:
        config = self._ssh_config()
        target = self._target(config)
        hops: list[paramiko.SSHClient] = []
        try:
            if target.proxyjump:
                # ProxyJump a,b: TCP to a, a tunnels to b, b tunnels to the target.
                chain = [self._target(config, spec.strip()) for spec in target.proxyjump.split(",")]
                sock: Any = self._tcp(chain[0])
                for hop_target, next_target in zip(chain, chain[1:] + [target]):
                    hops.append(self._login(sock, hop_target))
                    sock = self._tunnel(hops[-1], hop_target, next_target)
            elif target.proxycommand:
                sock = paramiko.ProxyCommand(target.proxycommand)
            else:
                sock = self._tcp(target)
            client = self._login(sock, target)
        except BaseException:
            for hop in hops[::-1]:
                hop.close()
            raise
        transport = client.get_transport()
        assert transport is not None
        if self.keepalive_interval:
            transport.set_keepalive(int(self.keepalive_interval))
        return _SSHConnection(client, hops, self.max_sessions)

    def _tunnel(self, via: paramiko.SSHClient, via_target: _Target, to: _Target) -> paramiko.Channel:
        try:
            return via.get_transport().open_channel(  # type: ignore[union-attr]
                "direct-tcpip", (to.hostname, to.port), ("127.0.0.1", 0), timeout=self.timeout)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise ConnectionFailedException(self, "jump host %s cannot reach %s: %s"
                                            % (via_target.name, to.name, e)) from None

    def _tcp(self, target: _Target) -> socket.socket:
        try:
            sock = socket.create_connection((target.hostname, target.port), timeout=self.timeout)
        except socket.timeout:
            raise ConnectionFailedException(self, "no answer from %s:%s within %ss"
                                            % (target.hostname, target.port, self.timeout)) from None
        except OSError as e:
            raise ConnectionFailedException(self, "cannot connect to %s:%s: %s"
                                            % (target.hostname, target.port, e.strerror or e)) from None
        # Commands are small round trips: don't let Nagle hold them back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Bound how long a silently dead peer goes unnoticed: keep-alives must be
        # acknowledged within `timeout`.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(max(self.timeout, 1) * 1000))
        if hasattr(socket, "TCP_KEEPIDLE") and self.keepalive_interval:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(self.keepalive_interval)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(self.timeout) // 3 or 1))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        return sock

    def _login(self, sock: Any, target: _Target) -> paramiko.SSHClient:
        """SSH handshake, host key check and authentication over ``sock``."""
        client = paramiko.SSHClient()
        known_hosts = os.path.expanduser(self.known_hosts_filename or "")
        if self.verify_host_key:
            # Only this host's keys go into the client (paramiko then prefers their
            # key type in the handshake; they are never saved back); the file itself is
            # parsed once per process.
            client_keys = client.get_host_keys()
            for keytype, key in _known_host_keys(known_hosts, target.name) if known_hosts else []:
                client_keys.add(target.name, keytype, key)
            client.set_missing_host_key_policy(_RejectUnknown())
        else:
            client.set_missing_host_key_policy(_AcceptUnknown())
        given_key = pkey = self._pkey()
        key_filenames = target.key_filenames
        if pkey is None and len(key_filenames) == 1 and not self.rsa_key_password:
            # Parse the key file once per process, not once per host (fan-out to 50 hosts).
            pkey = _load_key_file(key_filenames[0])
            if pkey is not None:
                key_filenames = []
        try:
            client.connect(
                target.hostname, port=target.port, username=target.username,
                password=self.password or None, pkey=pkey, key_filename=key_filenames or None,
                timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout,
                allow_agent=self.allow_agent, look_for_keys=not (target.key_filenames or pkey),
                passphrase=self.rsa_key_password, sock=sock)
        except _UnknownHostKey as e:
            client.close()
            raise HostKeyMismatchException(self, (
                "the host key of %s (%s %s) is not in known_hosts file %s. To trust this host, check "
                "the fingerprint and add its key, e.g. `ssh-keyscan -p %d %s >> %s`; for a throwaway "
                "host, set `verify_host_key = False` on its host class."
            ) % (target.name, e.key.get_name(), e.key.fingerprint, known_hosts, target.port,
                 target.hostname, known_hosts)) from None
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyMismatchException(self, (
                "the host key of %s (%s %s) differs from the one in %s (%s): the host was reinstalled or "
                "someone is intercepting the connection. If the change is expected, remove the old key "
                "with `ssh-keygen -R '%s' -f %s` and add the new one (`ssh-keyscan -p %d %s >> %s`); "
                "for a throwaway host, set `verify_host_key = False` on its host class."
            ) % (target.name, e.key.get_name(), e.key.fingerprint, known_hosts, e.expected_key.fingerprint,
                 target.name, known_hosts, target.port, target.hostname, known_hosts)) from None
        except paramiko.AuthenticationException as e:
            client.close()
            tried = [k for k in target.key_filenames] + (["rsa_key"] if given_key else []) + \
                (["ssh-agent"] if self.allow_agent and os.environ.get("SSH_AUTH_SOCK") else []) + \
                (["password"] if self.password else [])
            raise AuthenticationFailedException(self, "authentication as %r on %s failed (tried: %s): %s" % (
                target.username, target.name, ", ".join(tried) or "default keys", e)) from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            client.close()
            if "No authentication methods available" in str(e):
                raise AuthenticationFailedException(self, (
                    "no credentials to log in as %r on %s: set key_filename, rsa_key or password on the "
                    "host class, or load a key into ssh-agent") % (target.username, target.name)) from None
            raise ConnectionFailedException(self, "SSH handshake with %s failed: %s" % (
                target.name, str(e) or type(e).__name__)) from None
        return client

    def _with_connection(self, action: Callable[[_SSHConnection], T]) -> T:
        """Run ``action`` on the connection; once more on a fresh one if the cached one was dead."""
        conn = self._connection()
        try:
            return action(conn)
        except (paramiko.SSHException, EOFError, OSError) as e:
            if conn.alive():
                if isinstance(e, paramiko.SSHException):
                    raise ConnectionFailedException(self, "%s: %s" % (self._describe(), e)) from None
                raise
            connections.cache.discard(type(self), conn)
        try:
            return action(self._connection())
        except (paramiko.SSHException, EOFError) as e:
            raise ConnectionFailedException(self, "connection to %s lost: %s" % (
                self._describe(), str(e) or type(e).__name__)) from None

    # -- transport primitives --------------------------------------------------

    def _start_process(self, command: str, pty: bool, term: str, size: tuple[int, int]) -> Process:
        def start(conn: _SSHConnection) -> tuple[_SSHConnection, paramiko.Channel]:
            chan = conn.open_session(self.timeout)
            try:
                if pty:
                    rows, cols = size
                    chan.get_pty(term=term or "xterm", width=cols, height=rows)
                else:
                    chan.set_combine_stderr(True)
            except BaseException:
                chan.close()
                conn.slots.release()
                raise
            return conn, chan

        conn, chan = self._with_connection(start)
        process = _SSHProcess(self, conn, chan)
        try:
            chan.exec_command(command)
        except (paramiko.SSHException, EOFError, OSError) as e:
            process.close()
            raise ConnectionFailedException(self, "cannot start a command on %s: %s" % (
                self._describe(), str(e) or type(e).__name__)) from None
        return process

    def _sftp_call(self, action: Callable[[paramiko.SFTPClient], T]) -> T:
        return self._with_connection(lambda conn: action(conn.sftp()))

    def _open_binary(self, path: str, mode: str) -> Any:
        f = self._sftp_call(lambda sftp: sftp.open(path, mode))
        if any(c in mode for c in "wa+"):
            f.set_pipelined(True)  # don't wait for an ack per write
        return f

    def _listdir_stat(self, path: str) -> list[Stat]:
        return [Stat(attr, attr.filename) for attr in self._sftp_call(lambda sftp: sftp.listdir_attr(path))]

    def _get(self, remote_path: str, local_path: str) -> None:
        self._sftp_call(lambda sftp: sftp.get(remote_path, local_path))

    def _put(self, local_path: str, remote_path: str) -> None:
        self._sftp_call(lambda sftp: sftp.put(local_path, remote_path))

    def _remove(self, path: str) -> None:
        def remove(sftp: paramiko.SFTPClient) -> None:
            try:
                sftp.remove(path)
            except FileNotFoundError:
                pass
        self._sftp_call(remove)
