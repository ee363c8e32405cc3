"""Shell start-up and completion speed on a generated tree of 1,000+ nodes.

Prints each figure against its target (issue 4):

* ``run ACTION`` (a whole process: interpreter, imports, tree, action) < 0.5 s
* the interactive shell's first prompt (process start to prompt)   < 0.5 s
* Tab completion (in process, warm and cold caches)                < 50 ms

The baseline ``python -c pass`` is printed too: it is the floor of any process.
Run: ``python3 bench/shell_startup.py``.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TREE = textwrap.dedent('''
    from deployer.host import LocalHost
    from deployer.node import Node


    def _ping(self):
        return "pong"


    def _level(depth, prefix):
        ns = {"ping": _ping, "status": _ping}
        if depth < 3:
            for i in range(10):
                name = "%s%d" % (prefix, i)
                ns[name] = type(name, (Node,), _level(depth + 1, prefix + "x"))
        return ns


    class Host(LocalHost):
        slug = "bench"


    Big = type("Big", (Node,), dict(_level(0, "n"), Hosts=type("Hosts", (), {"host": Host})))
''')


def _env(state: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DEPLOYER_STATE_DIR=state, DEPLOYER_RUNTIME_DIR=os.path.join(state, "rt"),
               PROMPT_TOOLKIT_NO_CPR="1", PYTHONPATH=str(REPO), TERM="xterm")
    return env


def _time_process(argv: list[str], env: dict[str, str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _time_first_prompt(spec: str, env: dict[str, str], n: int = 5) -> float:
    import pexpect

    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        child = pexpect.spawn(sys.executable, ["-m", "deployer.cli", "run", spec], env=env, encoding="utf-8",
                              timeout=20)
        child.expect("Big >")
        times.append(time.perf_counter() - t0)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
        child.close()
    return statistics.median(times)


def _time_completion(tree_file: str) -> tuple[float, float]:
    from deployer.cli.loading import load_node_class
    from deployer.pseudo_terminal import DummyPty
    from deployer.shell.completion import candidates
    from deployer.shell.shell import Shell

    root = load_node_class(tree_file + ":Big")
    lines = ["", "n", "cd n3 nx", "cd n3 nx3 nxx", "--inspect n1 n", "n4 nx4 st", "sandbox n2 "]
    cold = []
    for line in lines:  # a fresh shell each time: nothing cached
        shell = Shell(root, DummyPty())
        t0 = time.perf_counter()
        candidates(shell, line)
        cold.append(time.perf_counter() - t0)
    shell = Shell(root, DummyPty())
    for line in lines:
        candidates(shell, line)
    warm = []
    for line in lines * 20:
        t0 = time.perf_counter()
        candidates(shell, line)
        warm.append(time.perf_counter() - t0)
    return max(cold), statistics.median(warm)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree_file = os.path.join(tmp, "big_tree.py")
        Path(tree_file).write_text(TREE)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        env = _env(state)
        spec = tree_file + ":Big"
        env_norec = dict(env, DEPLOYER_RECORD="0")
        baseline = _time_process([sys.executable, "-c", "pass"], env)
        run_action = _time_process([sys.executable, "-m", "deployer.cli", "run", spec, "ping"], env)
        run_norec = _time_process([sys.executable, "-m", "deployer.cli", "run", spec, "ping"], env_norec)
        deep = _time_process([sys.executable, "-m", "deployer.cli", "run", spec, "--path", "n9.nx9.nxx9", "ping"],
                             env)
        prompt = _time_first_prompt(spec, env)
        cold, warm = _time_completion(tree_file)
    nodes = 1 + 10 + 100 + 1000
    print("tree: %d nodes (10 x 10 x 10 under the root)" % nodes)
    print("%-46s %8.3f s   (baseline: floor of any process)" % ("python -c pass", baseline))
    rows = [
        ("run ACTION (recording on, SQLite)", run_action, 0.5),
        ("run ACTION (DEPLOYER_RECORD=0)", run_norec, 0.5),
        ("run --path n9.nx9.nxx9 ACTION", deep, 0.5),
        ("shell: process start to first prompt", prompt, 0.5),
        ("completion, cold cache (worst line)", cold, 0.05),
        ("completion, warm cache (median)", warm, 0.05),
    ]
    failed = False
    for label, value, target in rows:
        ok = value < target
        failed |= not ok
        print("%-46s %8.3f s   target < %.3f s  %s  (%.2fx of target)" % (
            label, value, target, "OK  " if ok else "SLOW", value / target))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
