#!/usr/bin/env python3
"""Fan-out benchmark: one command on N hosts (fresh) and 20 commands per host on open connections (warm).

Starts its own loopback :class:`~deployer.testing.sshd.SSHTestBed` (run as root)::

    python3 bench/fanout.py --hosts 10
    python3 bench/fanout.py --hosts 50 --repeat 3 --json /tmp/fanout-50.json

Tools compared, each in its own forked process so imports and memory don't mix:

- ``paramiko floor``: raw paramiko Transports, a thread pool, TCP_NODELAY, the
  key loaded once. Nothing can be much faster over SSH: this is the floor.
- ``paramiko nagle``: the same with Nagle left on (paramiko's default), to show
  what TCP_NODELAY is worth per command.
- ``fabric``: Fabric's ThreadingGroup; ``group.run`` per command (hosts in parallel).
- ``deployer``: :func:`run_deployer_phases` (a ParallelNode run through an Env).

Phases: *fresh* = connect + authenticate (host key verified) + one command on every
host; *warm* = 20 sequential commands per host over the open connections, hosts in
parallel. Memory: peak RSS of the tool's process during its phases (VmHWM reset
at the start), and the growth over the RSS it started with.
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
Phases = dict[str, float]


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

    def execute(transport: paramiko.Transport) -> None:
        chan = transport.open_session(timeout=10)
        chan.exec_command(COMMAND)
        while chan.recv(32768):
            pass
        if chan.recv_exit_status() != 0:
            raise RuntimeError("command failed")
        chan.close()

    def fresh(address: str) -> paramiko.Transport:
        transport = connect(address)
        execute(transport)
        return transport

    def warm(transport: paramiko.Transport) -> None:
        for _ in range(COMMANDS):
            execute(transport)

    with ThreadPoolExecutor(max_workers=n) as pool:
        started = time.perf_counter()
        transports = list(pool.map(fresh, addresses))
        t_fresh = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(warm, transports))
        t_warm = time.perf_counter() - started
    for transport in transports:
        transport.close()
    return {"fresh": t_fresh, "warm": t_warm}


def paramiko_floor(bed: SSHTestBed, n: int) -> Phases:
    return _paramiko_phases(bed, n, nodelay=True)


def paramiko_nagle(bed: SSHTestBed, n: int) -> Phases:
    return _paramiko_phases(bed, n, nodelay=False)


# --- Fabric -------------------------------------------------------------

def fabric_phases(bed: SSHTestBed, n: int) -> Phases:
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
    group.close()
    return {"fresh": t_fresh, "warm": t_warm}


# --- deployer -----------------------------------------------------------

def run_deployer_phases(bed: SSHTestBed, n: int) -> Phases:
    """deployer's fresh and warm phases: ``{"fresh": seconds, "warm": seconds}``.

    LEAD: a draft against the documented API (ParallelNode + Env + host.run);
    check it against the node layer as built. Run recording is off here
    (``DEPLOYER_RECORD=0``) unless ``--record`` is given.
    """
    try:
        from deployer.node import Env, ParallelNode
        from deployer.pseudo_terminal import DummyPty
    except ImportError as e:
        raise DeployerUnavailable(f"deployer's node layer is not importable yet ({e})") from e

    host_classes = bed.host_classes()[:n]  # new classes: no connection cached yet

    class Fanout(ParallelNode):
        class Hosts:
            host = host_classes

        def one(self) -> None:
            self.host.run(COMMAND, interactive=False)

        def many(self) -> None:
            for _ in range(COMMANDS):
                self.host.run(COMMAND, interactive=False)

    env = Env(Fanout(), pty=DummyPty())
    started = time.perf_counter()
    env.one()
    t_fresh = time.perf_counter() - started
    started = time.perf_counter()
    env.many()
    t_warm = time.perf_counter() - started
    return {"fresh": t_fresh, "warm": t_warm}


TOOLS: dict[str, Callable[[SSHTestBed, int], Phases]] = {
    "paramiko floor": paramiko_floor,
    "paramiko nagle": paramiko_nagle,
    "fabric": fabric_phases,
    "deployer": run_deployer_phases,
}


# --- running ------------------------------------------------------------

def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(tool: str, bed: SSHTestBed, n: int, record: bool, conn) -> None:
    try:
        if not record:
            os.environ["DEPLOYER_RECORD"] = "0"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM: measure this process's own peak
        except OSError:
            pass
        rss_start = _proc_status_kb("VmRSS")
        phases = TOOLS[tool](bed, n)
        phases["peak_mb"] = _proc_status_kb("VmHWM") / 1024
        phases["grew_mb"] = (_proc_status_kb("VmHWM") - rss_start) / 1024
        conn.send(("ok", phases))
    except DeployerUnavailable as e:
        conn.send(("unavailable", str(e)))
    except BaseException as e:  # report, don't hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_tool(tool: str, bed: SSHTestBed, n: int, record: bool, timeout: float = 600) -> tuple[str, object]:
    """Run one tool's phases in a forked process (its own imports, its own memory peak)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(tool, bed, n, record, child))
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
    return f"{a / b:6.2f}x" if a is not None and b else "     -"


def print_table(n: int, results: dict[str, Phases], notes: dict[str, str]) -> None:
    floor = results.get("paramiko floor", {})
    fabric = results.get("fabric", {})
    print(f"\nfan-out on {n} loopback hosts: fresh = connect+auth+1 command; warm = {COMMANDS} commands/host")
    head = f"{'tool':16} {'fresh s':>8} {'warm s':>8} {'ms/cmd':>7} {'fresh/floor':>11} {'warm/floor':>10} " \
           f"{'fresh/fabric':>12} {'warm/fabric':>11} {'peak MB':>8} {'+MB':>6}"
    print(head)
    print("-" * len(head))
    for tool in TOOLS:
        if tool in results:
            r = results[tool]
            print(f"{tool:16} {r['fresh']:8.3f} {r['warm']:8.3f} {1000 * r['warm'] / COMMANDS:7.1f} "
                  f"{_ratio(r['fresh'], floor.get('fresh')):>11} {_ratio(r['warm'], floor.get('warm')):>10} "
                  f"{_ratio(r['fresh'], fabric.get('fresh')):>12} {_ratio(r['warm'], fabric.get('warm')):>11} "
                  f"{r['peak_mb']:8.1f} {r['grew_mb']:6.1f}")
        else:
            print(f"{tool:16} {notes.get(tool, 'not run').splitlines()[0]}")
    print("ms/cmd = warm time / commands per host (hosts run in parallel); best of the repeats.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10, help="number of loopback hosts (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the best is kept")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of: " + ", ".join(TOOLS))
    parser.add_argument("--record", action="store_true", help="leave deployer's run recording on")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")

    results: dict[str, Phases] = {}
    notes: dict[str, str] = {}
    failed = False
    with SSHTestBed(n_hosts=args.hosts) as bed:
        for tool in tools:
            for _ in range(args.repeat):
                status, value = run_tool(tool, bed, args.hosts, args.record)
                if status != "ok":
                    notes[tool] = f"{status}: {value}"
                    if status == "error":
                        failed = True
                        print(f"{tool}: {value}", file=sys.stderr)
                    break
                best = results.get(tool)
                results[tool] = value if best is None else {k: min(best[k], value[k]) for k in value}
    print_table(args.hosts, results, notes)
    if args.json:
        Path(args.json).write_text(json.dumps({"hosts": args.hosts, "commands": COMMANDS, "results": results,
                                               "notes": notes}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
