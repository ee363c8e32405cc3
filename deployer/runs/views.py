"""Text views of run records, shared by ``deployer runs`` and the interactive shell.

    >>> from deployer.runs.stores import open_store
    >>> store = open_store()                                         # doctest: +SKIP
    >>> print(render_list(store.list_runs(limit=20)))                # doctest: +SKIP
    >>> print(render_show(store.get_run('20240101120000-ab12cd34ef')))  # doctest: +SKIP
    >>> follow(store, run_id, sys.stdout.write)                      # doctest: +SKIP
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

from deployer.runs.model import KIND_ACTION, KIND_FILE, KIND_RUN, KIND_STEP, CommandRecord, HistoryEntry, RunRecord
from deployer.runs.stores.base import RunStore

#: Lines of a command's output tail that ``render_show`` prints.
SHOW_OUTPUT_LINES = 10


def format_time(t: Optional[float]) -> str:
    """Local time with milliseconds, or ``-``."""
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + ".%03d" % int((t % 1) * 1000)


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, s = divmod(int(seconds), 60)
    return "%dm%02ds" % (minutes, s) if minutes < 60 else "%dh%02dm" % divmod(minutes, 60)


def run_title(run: RunRecord) -> str:
    """``node.path.action``."""
    return "%s.%s" % (run.node_path, run.action) if run.node_path else run.action


def render_list(runs: Sequence[RunRecord], now: Optional[float] = None) -> str:
    """A table of runs, in the order given (stores list them newest first)."""
    if not runs:
        return "No runs recorded.\n"
    now = time.time() if now is None else now
    rows = [("ID", "STATUS", "STARTED", "DURATION", "ACTION", "HOSTS", "USER")]
    for r in runs:
        duration = (r.end if r.end is not None else now) - r.start
        hosts = ",".join(r.hosts) if len(r.hosts) <= 3 else "%s,... (%d)" % (",".join(r.hosts[:2]), len(r.hosts))
        rows.append((r.id, r.status + (" (sandbox)" if r.sandbox else ""), format_time(r.start)[:19],
                     format_duration(duration), run_title(r), hosts or "-", r.user or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in rows)


def render_history_entry(h: HistoryEntry) -> str:
    """One history line: time, (host), status, detail."""
    who = "[%s] " % h.host if h.host else ""
    label = {KIND_RUN: "run", KIND_STEP: "step", KIND_ACTION: "action", KIND_FILE: "file"}.get(h.kind, h.kind)
    # A multi-line detail (an error with a log tail) stays indented under its entry.
    detail = ("  " + h.detail.rstrip("\n").replace("\n", "\n" + " " * 33)) if h.detail else ""
    return "%s  %-6s %s%s%s\n" % (format_time(h.time), label, who, h.status, detail)


def render_command(c: CommandRecord, output_lines: int = SHOW_OUTPUT_LINES) -> str:
    """A command, its result and the last lines of its output."""
    if c.running:
        result = "running"
    elif c.exit_code is None:
        result = "no exit status" + (": %s" % c.error if c.error else "")
    else:
        result = "exit %d" % c.exit_code
    text = "%s  [%s] %s%s  (%s, %s)\n" % (format_time(c.start), c.host, "sudo " if c.use_sudo else "",
                                          c.command, result, format_duration(c.duration))
    lines = c.output_tail.rstrip("\n").splitlines()[-output_lines:] if output_lines else []
    return text + "".join("      | %s\n" % line for line in lines)


def render_show(run: RunRecord) -> str:
    """The whole record: what ran, where, each status with its time, each command."""
    out = [
        "Run %s: %s\n" % (run.id, run.status),
        "  action:  %s%s\n" % (run_title(run), _params(run)),
        "  user:    %s\n" % (run.user or "-"),
        "  hosts:   %s\n" % (", ".join(run.hosts) or "-"),
        "  sandbox: %s\n" % ("yes" if run.sandbox else "no"),
        "  started: %s\n" % format_time(run.start),
        "  ended:   %s%s\n" % (format_time(run.end),
                              "  (%s)" % format_duration(run.end - run.start) if run.end is not None else ""),
    ]
    if run.error:
        out.append("  error:   %s\n" % run.error.strip().replace("\n", "\n           "))
    if run.log_path:
        out.append("  log:     %s\n" % run.log_path)
    steps = run.host_statuses()
    if steps:
        out.append("\nLast step per host:\n")
        out += ["  %-20s %s\n" % (host, status) for host, status in sorted(steps.items())]
    out.append("\nHistory:\n")
    out += ["  " + render_history_entry(h) for h in run.history]
    if run.commands:
        out.append("\nCommands:\n")
        out += ["  " + render_command(c).replace("\n      |", "\n        |") for c in run.commands]
    return "".join(out)


def _params(run: RunRecord) -> str:
    params = [repr(a) for a in run.args] + ["%s=%r" % kv for kv in run.kwargs.items()]
    return " " + " ".join(params) if params else ""


def follow(store: RunStore, run_id: str, write: Callable[[str], object], poll_interval: float = 0.5,
           timeout: Optional[float] = None, sleep: Callable[[float], None] = time.sleep) -> RunRecord:
    """Write a run's history and commands as they are recorded, until it ends.

    Returns the final record (or the current one when ``timeout`` passes).
    Raises RunNotFound for an unknown id.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    shown_history = 0
    shown_commands: dict[str, str] = {}        # command id -> output already written
    finished_commands: set[str] = set()
    run = store.get_run(run_id)
    write("Following run %s: %s\n" % (run.id, run_title(run)))
    while True:
        # One poll's news, written in time order (history and commands interleave).
        items: list[tuple[float, int, str]] = []
        for h in run.history:
            if h.seq > shown_history:
                items.append((h.time, 0, render_history_entry(h)))
                shown_history = h.seq
        for c in run.commands:
            if c.command_id in finished_commands:
                continue
            if c.command_id not in shown_commands:
                items.append((c.start, 1, "%s  [%s] $ %s\n" % (format_time(c.start), c.host, c.command)))
                shown_commands[c.command_id] = ""
            new = _new_output(shown_commands[c.command_id], c.output_tail)
            if new:
                at = c.end if c.end is not None else time.time()
                items.append((at, 2, "".join("      | %s\n" % line for line in new.rstrip("\n").splitlines())))
                shown_commands[c.command_id] = c.output_tail
            if not c.running:
                finished_commands.add(c.command_id)
                result = ("exit %s" % c.exit_code if c.exit_code is not None else
                          "no exit status" + (": %s" % c.error if c.error else ""))
                items.append((c.end or c.start, 3, "%s  [%s] %s\n" % (format_time(c.end), c.host, result)))
        for _, _, text in sorted(items, key=lambda i: (i[0], i[1])):
            write(text)
        if run.finished or (deadline is not None and time.monotonic() >= deadline):
            if run.finished:
                write("Run %s ended: %s\n" % (run.id, run.status))
            return run
        sleep(poll_interval)
        run = store.get_run(run_id)


def _new_output(old: str, new: str) -> str:
    """The part of ``new`` (a tail) not yet written, given the ``old`` tail written before."""
    if not old:
        return new
    if new.startswith(old):
        return new[len(old):]
    # The tail window moved on: find where the previously written end is in the new tail.
    anchor = old[-200:]
    at = new.rfind(anchor)
    return new[at + len(anchor):] if at >= 0 else new
