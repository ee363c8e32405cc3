#!/usr/bin/env python3
"""Fan-out benchmark: deployer against raw paramiko (the floor) and Fabric, over loopback SSH.

Starts its own loopback :class:`~deployer.testing.sshd.SSHTestBed` (run as root)::

    python3 bench/fanout.py --hosts 10 --repeat 3
    python3 bench/fanout.py --hosts 50 --repeat 3 --json /tmp/fanout-50.json

Tools compared, each in its own forked process so imports and memory don't mix:

- ``paramiko floor``: raw paramiko Transports, a thread pool, TCP_NODELAY, the
  key loaded once. Nothing can be much faster over SSH: this is the floor.
- ``paramiko nagle``: the same with Nagle left on (paramiko's default), to show
  what TCP_NODELAY is worth per command.
- ``fabric``: Fabric's ThreadingGroup (``group.run`` per command, hosts in
  parallel); the deployment runs one thread per host on its Connection.
- ``deployer``: a ParallelNode run through an Env (:func:`run_deployer_phases`),
  run recording off (``DEPLOYER_RECORD=0``).
- ``deployer+record``: the same with run recording on (SQLite in a temp dir).

Phases (every command without a pty, output collected):

- *fresh*: connect + authenticate (host key verified) + one command on every host;
- *warm*: 20 sequential commands per host over the open connections, hosts in parallel;
- *deploy*: a 20-step deployment per host (:data:`DEPLOY_STEPS`: cd/env/prefix
  context, mkdir, two files written over SFTP, cat, ln, tar, ...), hosts in parallel.

Memory: peak RSS of the tool's process during its phases (VmHWM reset at the
start), and the growth over the RSS it started with.

``--pieces`` also times the pieces of connection set-up per call in each tool's
process (TCP connect, handshake/kex, public-key auth, channel open, known_hosts
parsing), to find where a fresh phase loses time against the floor::

    python3 bench/fanout.py --hosts 50 --repeat 3 --tools "paramiko floor,deployer" --pieces

See bench/README.md for the targets and the latest figures.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer.testing.sshd import SSHTestBed  # noqa: E402

COMMANDS = 20
COMMAND = "true"
PHASES = ("fresh", "warm", "deploy")
Phases = dict[str, float]

#: Where each host deploys (all bed hosts are this machine: one directory per host).
DEPLOY_BASE = "/tmp/deployer-fanout-%d-%d"   # (pid, host index)
DEPLOY_ENV = ("DEPLOY_ENV", "bench")
DEPLOY_PREFIX = "umask 022"
APP_CONF = b"KEY=value\n" * 50
SETTINGS = b"DEBUG = False\nSECRET = 'not-a-secret'\n" * 20

#: The deployment, in the context cd(base), env(DEPLOY_ENV), prefix(DEPLOY_PREFIX):
#: ("run", command) or ("write", path relative to base, content). Step 0 (mkdir
#: of the base) runs before the context; the list has 19 more steps.
DEPLOY_STEPS: list[tuple[str, str, bytes]] = [
    ("run", "mkdir -p releases/r1 shared", b""),
    ("write", "releases/r1/app.conf", APP_CONF),
    ("run", "cat releases/r1/app.conf", b""),
    ("run", "test -f releases/r1/app.conf", b""),
    ("run", "ln -sfn releases/r1 current", b""),
    ("run", "readlink current", b""),
    ("run", 'echo "$DEPLOY_ENV" > current/env.txt', b""),
    ("run", "cat current/env.txt", b""),
    ("write", "shared/settings.py", SETTINGS),
    ("run", "wc -c shared/settings.py", b""),
    ("run", "cp shared/settings.py releases/r1/", b""),
    ("run", "ls releases/r1", b""),
    ("run", "chmod 600 releases/r1/settings.py", b""),
    ("run", "stat -c %a releases/r1/settings.py", b""),
    ("run", "grep -c KEY releases/r1/app.conf", b""),
    ("run", "tar czf r1.tgz releases/r1", b""),
    ("run", "rm -f r1.tgz", b""),
    ("run", "du -s releases", b""),
    ("run", "cd / && rm -rf -- \"$OLDPWD\"", b""),   # clean up: the base itself
]
assert len(DEPLOY_STEPS) + 1 == 20


def _in_context(base: str, command: str) -> str:
    """``command`` in the deployment's cd/env/prefix context, as deployer's HostContext builds it."""
    return "cd -- '%s' && export %s='%s' && %s && {\n%s\n}" % (base, DEPLOY_ENV[0], DEPLOY_ENV[1],
                                                               DEPLOY_PREFIX, command)


class DeployerUnavailable(RuntimeError):
    """deployer's node layer cannot run this benchmark (yet)."""


# --- the floor: raw paramiko ----------------------------------------------

def _paramiko_phases(bed: SSHTestBed, n: int, nodelay: bool) -> Phases:
    import paramiko

    key = paramiko.Ed25519Key.from_private_key_file(bed.user.key_filename)
    host_keys = paramiko.HostKeys(bed.known_hosts)
    addresses = bed.addresses[:n]

    def connect(address: str) -> paramiko.Transport:
        sock = socket.create_connection((address, bed.port), timeout=10)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        transport.start_client(timeout=10)
        if not host_keys.check(f"[{address}]:{bed.port}", transport.get_remote_server_key()):
            raise RuntimeError(f"host key of {address} not verified")
        transport.auth_publickey(bed.user.name, key)
        return transport

    def execute(transport: paramiko.Transport, command: str = COMMAND) -> bytes:
        chan = transport.open_session(timeout=10)
        chan.set_combine_stderr(True)
        chan.exec_command(command)
        out = []
        while True:
            data = chan.recv(32768)
            if not data:
                break
            out.append(data)
        if chan.recv_exit_status() != 0:
            raise RuntimeError("command failed: %s" % command)
        chan.close()
        return b"".join(out)

    def fresh(address: str) -> paramiko.Transport:
        transport = connect(address)
        execute(transport)
        return transport

    def warm(transport: paramiko.Transport) -> None:
        for _ in range(COMMANDS):
            execute(transport)

    def deploy(index_transport: tuple[int, paramiko.Transport]) -> None:
        index, transport = index_transport
        base = DEPLOY_BASE % (os.getpid(), index)
        sftp = None
        execute(transport, "mkdir -p '%s'" % base)
        for kind, arg, content in DEPLOY_STEPS:
            if kind == "run":
                execute(transport, _in_context(base, arg))
            else:
                if sftp is None:
                    sftp = paramiko.SFTPClient.from_transport(transport)
                with sftp.open(base + "/" + arg, "w") as f:
                    f.set_pipelined(True)
                    f.write(content)
        if sftp is not None:
            sftp.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        started = time.perf_counter()
        transports = list(pool.map(fresh, addresses))
        t_fresh = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(warm, transports))
        t_warm = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(deploy, enumerate(transports)))
        t_deploy = time.perf_counter() - started
    for transport in transports:
        transport.close()
    return {"fresh": t_fresh, "warm": t_warm, "deploy": t_deploy}


def paramiko_floor(bed: SSHTestBed, n: int) -> Phases:
    return _paramiko_phases(bed, n, nodelay=True)


def paramiko_nagle(bed: SSHTestBed, n: int) -> Phases:
    return _paramiko_phases(bed, n, nodelay=False)


# --- Fabric -------------------------------------------------------------

def fabric_phases(bed: SSHTestBed, n: int) -> Phases:
    import io

    import paramiko
    from fabric import Config, ThreadingGroup

    config = Config(overrides={"load_ssh_configs": False})
    group = ThreadingGroup(
        *bed.addresses[:n], user=bed.user.name, port=bed.port, config=config,
        connect_kwargs={"key_filename": bed.user.key_filename, "look_for_keys": False, "allow_agent": False},
    )
    for conn in group:  # verify host keys like the floor does
        conn.client.load_host_keys(bed.known_hosts)
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    started = time.perf_counter()
    group.run(COMMAND, hide=True)
    t_fresh = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(COMMANDS):
        group.run(COMMAND, hide=True)
    t_warm = time.perf_counter() - started

    def deploy(index_conn: tuple[int, object]) -> None:
        index, conn = index_conn
        base = DEPLOY_BASE % (os.getpid(), index)
        conn.run("mkdir -p '%s'" % base, hide=True)
        with conn.cd(base), conn.prefix("export %s='%s'" % DEPLOY_ENV), conn.prefix(DEPLOY_PREFIX):
            for kind, arg, content in DEPLOY_STEPS:
                if kind == "run":
                    conn.run(arg, hide=True)
                else:
                    conn.put(io.BytesIO(content), base + "/" + arg)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(deploy, enumerate(group)))
    t_deploy = time.perf_counter() - started
    group.close()
    return {"fresh": t_fresh, "warm": t_warm, "deploy": t_deploy}


# --- deployer -----------------------------------------------------------

def run_deployer_phases(bed: SSHTestBed, n: int) -> Phases:
    """deployer's phases: ``{"fresh": seconds, "warm": seconds, "deploy": seconds}``.

    Each phase is one action call on a ParallelNode whose cells are the N hosts.
    """
    try:
        from deployer.node import Env, ParallelNode
        from deployer.pseudo_terminal import DummyPty
    except ImportError as e:
        raise DeployerUnavailable(f"deployer's node layer is not importable yet ({e})") from e

    host_classes = bed.host_classes()[:n]  # new classes: no connection cached yet
    index_of = {cls: i for i, cls in enumerate(host_classes)}

    class Fanout(ParallelNode):
        class Hosts:
            host = host_classes

        def one(self) -> None:
            self.host.run(COMMAND, interactive=False)

        def many(self) -> None:
            host = self.host
            for _ in range(COMMANDS):
                host.run(COMMAND, interactive=False)

        def deploy(self) -> None:
            host = self.host
            base = DEPLOY_BASE % (os.getpid(), index_of[self.host.get_host()])
            host.run("mkdir -p '%s'" % base, interactive=False)
            with host.cd(base), host.env(*DEPLOY_ENV), host.prefix(DEPLOY_PREFIX):
                for kind, arg, content in DEPLOY_STEPS:
                    if kind == "run":
                        host.run(arg, interactive=False)
                    else:
                        with host.open(base + "/" + arg, "wb") as f:
                            f.write(content)

    env = Env(Fanout(), pty=DummyPty())
    times = {}
    for phase, action in (("fresh", env.one), ("warm", env.many), ("deploy", env.deploy)):
        started = time.perf_counter()
        action()
        times[phase] = time.perf_counter() - started
    return times


def run_deployer_recorded(bed: SSHTestBed, n: int) -> Phases:
    """:func:`run_deployer_phases` with run recording on (SQLite in a temp dir)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("DEPLOYER_RECORD", None)
        os.environ["DEPLOYER_RUNS_URL"] = "sqlite:///%s/runs.db" % tmp
        return run_deployer_phases(bed, n)


TOOLS: dict[str, Callable[[SSHTestBed, int], Phases]] = {
    "paramiko floor": paramiko_floor,
    "paramiko nagle": paramiko_nagle,
    "fabric": fabric_phases,
    "deployer": run_deployer_phases,
    "deployer+record": run_deployer_recorded,
}


# --- running ------------------------------------------------------------

def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


#: (module, attribute, piece name) timed per call by ``--pieces``.
PIECES = (
    ("socket", "create_connection", "tcp connect"),
    ("paramiko.Transport", "start_client", "kex"),
    ("paramiko.Transport", "auth_publickey", "auth"),
    ("paramiko.Transport", "open_session", "channel open"),
    ("paramiko.HostKeys", "load", "known_hosts parse"),
)


def _time_pieces() -> dict[str, list[float]]:
    """Wrap the :data:`PIECES` in this (forked) process; returns piece -> durations, filled as they run."""
    import functools
    import threading

    import paramiko

    durations: dict[str, list[float]] = {piece: [] for _, _, piece in PIECES}
    lock = threading.Lock()
    for where, name, piece in PIECES:
        owner: object = socket if where == "socket" else getattr(paramiko, where.split(".")[1])
        original = getattr(owner, name)

        def timed(*args, _original=original, _piece=piece, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                with lock:
                    durations[_piece].append(time.perf_counter() - started)

        setattr(owner, name, functools.wraps(original)(timed))
    return durations


def _summary(durations: list[float]) -> dict[str, float]:
    d = sorted(durations)
    return {"calls": len(d), "median_ms": 1000 * d[len(d) // 2] if d else 0.0,
            "p90_ms": 1000 * d[int(len(d) * 0.9)] if d else 0.0, "total_ms": 1000 * sum(d)}


def _child(tool: str, bed: SSHTestBed, n: int, conn, pieces: bool = False) -> None:
    try:
        os.environ["DEPLOYER_RECORD"] = "0"  # deployer+record turns it back on
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM: measure this process's own peak
        except OSError:
            pass
        rss_start = _proc_status_kb("VmRSS")
        timings = _time_pieces() if pieces else None  # after the baseline: it imports paramiko
        phases = TOOLS[tool](bed, n)
        phases["peak_mb"] = _proc_status_kb("VmHWM") / 1024
        phases["grew_mb"] = (_proc_status_kb("VmHWM") - rss_start) / 1024
        if timings is not None:
            phases["pieces"] = {piece: _summary(d) for piece, d in timings.items()}  # type: ignore[assignment]
        conn.send(("ok", phases))
    except DeployerUnavailable as e:
        conn.send(("unavailable", str(e)))
    except BaseException as e:  # report, don't hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_tool(tool: str, bed: SSHTestBed, n: int, timeout: float = 600, pieces: bool = False) -> tuple[str, object]:
    """Run one tool's phases in a forked process (its own imports, its own memory peak)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(tool, bed, n, child, pieces))
    proc.start()
    child.close()
    if not parent.poll(timeout):
        proc.kill()
        proc.join()
        return "error", f"timed out after {timeout:.0f}s"
    result = parent.recv()
    proc.join()
    return result


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def print_table(n: int, results: dict[str, Phases], notes: dict[str, str], repeat: int) -> None:
    floor = results.get("paramiko floor", {})
    fabric = results.get("fabric", {})
    print(f"\nfan-out on {n} loopback hosts (best of {repeat}): fresh = connect+auth+1 command; "
          f"warm = {COMMANDS} commands/host; deploy = {len(DEPLOY_STEPS) + 1}-step deployment/host")
    head = f"{'tool':16} " + " ".join(f"{p + ' s':>8}" for p in PHASES) + f" {'ms/cmd':>7} " + \
        " ".join(f"{p + '/floor':>12}" for p in PHASES) + " " + \
        " ".join(f"{p + '/fabric':>13}" for p in PHASES) + f" {'peak MiB':>9} {'+MiB':>6}"
    print(head)
    print("-" * len(head))
    for tool in TOOLS:
        if tool not in results:
            if tool in notes:
                print(f"{tool:16} {notes[tool].splitlines()[0]}")
            continue
        r = results[tool]
        print(f"{tool:16} " + " ".join(f"{r[p]:8.3f}" for p in PHASES) + f" {1000 * r['warm'] / COMMANDS:7.1f} "
              + " ".join(f"{_ratio(r[p], floor.get(p)):>12}" for p in PHASES) + " "
              + " ".join(f"{_ratio(r[p], fabric.get(p)):>13}" for p in PHASES)
              + f" {r['peak_mb']:9.1f} {r['grew_mb']:6.1f}")
    print("ms/cmd = warm time / commands per host (hosts run in parallel). Peak = VmHWM of the tool's process.")


def print_pieces(pieces: dict[str, list[dict[str, dict[str, float]]]]) -> None:
    """Per tool and piece: calls per run, and median/p90 of the per-call times over all runs."""
    print("\nconnection set-up pieces, per call (median / p90 over every run; calls = per run):")
    names = [piece for _, _, piece in PIECES]
    print(f"{'tool':16} " + " ".join(f"{name:>25}" for name in names))
    for tool, runs in pieces.items():
        cells = []
        for name in names:
            merged = [r[name] for r in runs]
            calls = max(m["calls"] for m in merged)
            median = sorted(m["median_ms"] for m in merged)[len(merged) // 2]
            p90 = sorted(m["p90_ms"] for m in merged)[len(merged) // 2]
            cells.append(f"{calls:4.0f}x {median:7.1f}/{p90:7.1f}ms")
        print(f"{tool:16} " + " ".join(f"{cell:>25}" for cell in cells))
    print("(every phase of the run is included: channel opens count warm and deploy commands too)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10, help="number of loopback hosts (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (interleaved); the best is kept")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of: " + ", ".join(TOOLS))
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--pieces", action="store_true",
                        help="also time connection set-up pieces per call (tcp, kex, auth, known_hosts parse)")
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")

    results: dict[str, Phases] = {}
    notes: dict[str, str] = {}
    pieces: dict[str, list[dict[str, dict[str, float]]]] = {}
    failed = False
    with SSHTestBed(n_hosts=args.hosts) as bed:
        # Round-robin over the tools, so that a slow spell of the machine hits them all.
        for _ in range(args.repeat):
            for tool in tools:
                if tool in notes:
                    continue
                status, value = run_tool(tool, bed, args.hosts, pieces=args.pieces)
                if status != "ok":
                    notes[tool] = f"{status}: {value}"
                    if status == "error":
                        failed = True
                        print(f"{tool}: {value}", file=sys.stderr)
                    continue
                if "pieces" in value:  # type: ignore[operator]
                    pieces.setdefault(tool, []).append(value.pop("pieces"))  # type: ignore[union-attr]
                best = results.get(tool)
                results[tool] = value if best is None else {k: min(best[k], value[k]) for k in value}
    print_table(args.hosts, results, notes, args.repeat)
    if pieces:
        print_pieces(pieces)
    if args.json:
        Path(args.json).write_text(json.dumps({"hosts": args.hosts, "commands": COMMANDS, "repeat": args.repeat,
                                               "results": results, "notes": notes, "pieces": pieces}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
