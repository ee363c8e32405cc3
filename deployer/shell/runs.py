"""The shell's ``runs`` command: the run history, through :mod:`deployer.runs.views`.

``runs`` / ``runs list [N]`` (newest first), ``runs show ID``, ``runs follow ID``
(Ctrl-C stops following). Output goes to the shell's pty (the server-safe way).
"""
from __future__ import annotations

from typing import Any

from deployer.shell.errors import ShellCommandError

__all__ = ["runs_command"]

DEFAULT_LIMIT = 20


def runs_command(shell: Any, args: list[str]) -> None:
    from deployer.runs import RunNotFound, RunStoreError
    from deployer.runs import views
    from deployer.runs.stores import open_store

    sub = args[0] if args else "list"
    if sub not in ("list", "show", "follow"):
        raise ShellCommandError("usage: runs [list [N] | show RUN_ID | follow RUN_ID]")
    if sub in ("show", "follow") and len(args) != 2:
        raise ShellCommandError("usage: runs %s RUN_ID" % sub)
    try:
        store = open_store()
    except RunStoreError as e:
        raise ShellCommandError("runs: %s" % e) from None
    try:
        if sub == "list":
            try:
                limit = int(args[1]) if len(args) > 1 else DEFAULT_LIMIT
            except ValueError:
                raise ShellCommandError("runs list: N must be a number") from None
            shell.write(views.render_list(store.list_runs(limit=limit)))
        elif sub == "show":
            shell.write(views.render_show(store.get_run(args[1])))
        else:
            views.follow(store, args[1], shell.write)
    except RunNotFound as e:
        raise ShellCommandError("runs: %s" % e) from None
    except RunStoreError as e:
        raise ShellCommandError("runs: %s" % e) from None
    finally:
        store.close()
