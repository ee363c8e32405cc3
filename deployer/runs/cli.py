"""``deployer runs list|show|follow``: the run history on the command line.

    deployer runs list [--status S] [--node N] [--since DATE] [--limit N] [--json]
    deployer runs show ID [--json]
    deployer runs follow ID [--interval SECONDS]

The store is ``DEPLOYER_RUNS_URL`` (or ``--store URL``). ``follow`` exits 0 when
the run ends ``SUCCESS``, 1 when it ends otherwise.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from typing import Optional, Sequence, TextIO

from deployer.runs.errors import RunNotFound, RunStoreError
from deployer.runs.model import ALL_STATES, SUCCESS
from deployer.runs.stores import open_store
from deployer.runs.views import follow, render_list, render_show

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: Optional[float] = None) -> float:
    """``2024-05-01``, ``2024-05-01T13:00`` (local time) or ``2h``/``3d`` ago: a timestamp."""
    now = time.time() if now is None else now
    m = _RELATIVE.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date (2024-05-01, 2024-05-01T13:00) or an age (2h, 3d): %r"
                                         % text) from None


class _Parser(argparse.ArgumentParser):
    """argparse writing its usage, help and errors to given streams (the shell's pty), not sys.*."""

    streams: Optional[tuple[TextIO, TextIO]] = None

    def _print_message(self, message: str, file: Optional[TextIO] = None) -> None:
        if self.streams is None or not message:
            return super()._print_message(message, file)
        out, err = self.streams
        (err if file is sys.stderr else out).write(message)


def _parser(prog: str = "deployer runs", streams: Optional[tuple[TextIO, TextIO]] = None) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="The recorded history of runs.")
    p.add_argument("--store", help="store URL (default: $DEPLOYER_RUNS_URL or the state dir's runs.db)")
    sub = p.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="recorded runs, newest first")
    lst.add_argument("--status", type=str.upper, choices=ALL_STATES)
    lst.add_argument("--node", help="node path: this node and those below it")
    lst.add_argument("--since", type=parse_since, help="date or age (2h, 3d)")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--offset", type=int, default=0)
    lst.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    show = sub.add_parser("show", help="one run: history, steps and commands")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    fol = sub.add_parser("follow", help="stream a run until it ends")
    fol.add_argument("id")
    fol.add_argument("--interval", type=float, default=0.5, help="seconds between polls of the store")
    for parser in (p, lst, show, fol):
        parser.streams = streams
    return p


def main(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None,
         stderr: Optional[TextIO] = None, prog: str = "deployer runs") -> int:
    """Run ``deployer runs ...``; returns the exit code.

    ``stdout``/``stderr``: where everything goes, usage and errors included (the
    interactive shell's ``runs`` passes its terminal).
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    streams = (out, err) if (stdout is not None or stderr is not None) else None
    try:
        args = _parser(prog, streams).parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:          # argparse printed the usage
        return int(e.code or 0)
    try:
        store = open_store(args.store)
    except RunStoreError as e:
        err.write("%s: %s\n" % (prog, e))
        return 1
    try:
        if args.command == "list":
            runs = store.list_runs(status=args.status, node=args.node, since=args.since, limit=args.limit,
                                   offset=args.offset)
            if args.json:
                out.write("".join(json.dumps(r.summary_dict(), sort_keys=True) + "\n" for r in runs))
            else:
                out.write(render_list(runs))
            return 0
        if args.command == "show":
            run = store.get_run(args.id)
            out.write(json.dumps(run.to_dict(), indent=2, sort_keys=True) + "\n" if args.json else render_show(run))
            return 0
        if args.command == "follow":
            def write(text: str) -> None:
                out.write(text)
                out.flush()
            run = follow(store, args.id, write, poll_interval=max(0.05, args.interval))
            return 0 if run.status == SUCCESS else 1
    except (RunNotFound, RunStoreError) as e:
        err.write("%s: %s\n" % (prog, e))
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        store.close()
    return 2


if __name__ == "__main__":
    sys.exit(main())
