"""What a run record holds: the run, its history of status changes and its commands.

Records are plain dataclasses so that every store (SQLite, PostgreSQL, JSON
files) writes and reads the same thing, and ``to_dict`` gives the JSON the CLI
and the REST service show.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

# Run states. INIT: recorded, not yet running (a background run waiting for its
# process); STARTED: running; INTERRUPTED: its process is gone without finishing.
INIT = "INIT"
STARTED = "STARTED"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
INTERRUPTED = "INTERRUPTED"

ACTIVE_STATES = (INIT, STARTED)
FINAL_STATES = (SUCCESS, FAILED, INTERRUPTED)
ALL_STATES = ACTIVE_STATES + FINAL_STATES

# History entry kinds.
KIND_RUN = "run"        # the run's own state: INIT, STARTED, SUCCESS, ...
KIND_STEP = "step"      # a named status (batch steps, per host): COPY, UNPACK, ...
KIND_ACTION = "action"  # a nested action call started or finished
KIND_FILE = "file"      # a file was uploaded, downloaded or opened on a host

#: Seconds between two heartbeats of a running run (its recorder refreshes ``heartbeat_at``).
HEARTBEAT_INTERVAL = 5.0
#: A STARTED run whose owner cannot be checked from here (another machine) and whose
#: heartbeat is older than this reads as INTERRUPTED: three missed heartbeats.
HEARTBEAT_STALE_AFTER = 3 * HEARTBEAT_INTERVAL

#: How many characters of a command's output a record keeps.
OUTPUT_TAIL_CHARS = 4000


def new_run_id() -> str:
    """A fresh run id: sortable by creation time, unique across hosts."""
    return "%s-%s" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()), uuid.uuid4().hex[:10])


def tail(text: str, limit: int = OUTPUT_TAIL_CHARS) -> str:
    """The last ``limit`` characters of ``text``, from a line start when one is in them."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return cut[newline + 1:] if 0 <= newline < len(cut) - 1 else cut


@dataclass
class Owner:
    """The process that runs (or will run) a run: how a crash is told from a long run.

    ``proc_start`` is the process start time in clock ticks since boot
    (``/proc/PID/stat``), so a recycled pid is not mistaken for the owner.
    """
    pid: int
    hostname: str
    boot_id: str = ""
    proc_start: int = 0

    @classmethod
    def of_process(cls, pid: Optional[int] = None) -> "Owner":
        """Identify process ``pid`` (default: this one) on this machine."""
        pid = os.getpid() if pid is None else pid
        return cls(pid=pid, hostname=socket.gethostname(), boot_id=_boot_id(),
                   proc_start=_proc_start(pid) or 0)

    def is_alive(self) -> Optional[bool]:
        """True/False when it can be told from here; None for another machine."""
        if self.hostname != socket.gethostname():
            return None
        boot = _boot_id()
        if self.boot_id and boot and self.boot_id != boot:
            return False            # the machine rebooted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass                    # exists, owned by someone else
        start = _proc_start(self.pid)
        if self.proc_start and start is not None and start != self.proc_start:
            return False            # the pid was reused by another process
        if _is_zombie(self.pid):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[dict[str, Any]]) -> Optional["Owner"]:
        if not d:
            return None
        return cls(pid=int(d["pid"]), hostname=str(d["hostname"]), boot_id=str(d.get("boot_id") or ""),
                   proc_start=int(d.get("proc_start") or 0))


@dataclass
class HistoryEntry:
    """One timestamped status change. ``host`` is set for per-host statuses."""
    time: float
    status: str
    kind: str = KIND_RUN
    host: Optional[str] = None
    detail: str = ""
    seq: int = 0                # position in the run's history, given by the store

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HistoryEntry":
        return cls(time=float(d["time"]), status=str(d["status"]), kind=str(d.get("kind") or KIND_RUN),
                   host=d.get("host"), detail=str(d.get("detail") or ""), seq=int(d.get("seq") or 0))


@dataclass
class CommandRecord:
    """One command on one host. ``exit_code``/``end`` stay None while it runs."""
    command_id: str
    host: str
    command: str
    start: float
    end: Optional[float] = None
    exit_code: Optional[int] = None
    duration: Optional[float] = None
    output_tail: str = ""
    error: Optional[str] = None
    use_sudo: bool = False
    sandbox: bool = False
    seq: int = 0

    @property
    def running(self) -> bool:
        return self.end is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CommandRecord":
        return cls(command_id=str(d["command_id"]), host=str(d["host"]), command=str(d["command"]),
                   start=float(d["start"]), end=_opt_float(d.get("end")),
                   exit_code=None if d.get("exit_code") is None else int(d["exit_code"]),
                   duration=_opt_float(d.get("duration")), output_tail=str(d.get("output_tail") or ""),
                   error=d.get("error"), use_sudo=bool(d.get("use_sudo")), sandbox=bool(d.get("sandbox")),
                   seq=int(d.get("seq") or 0))


@dataclass
class RunRecord:
    """A run: one outermost action call (or a background run waiting to start)."""
    id: str
    node_path: str
    action: str
    start: float
    status: str = INIT
    args: list[Any] = field(default_factory=list)            # masked
    kwargs: dict[str, Any] = field(default_factory=dict)     # masked
    user: str = ""
    hosts: list[str] = field(default_factory=list)
    sandbox: bool = False
    end: Optional[float] = None
    error: Optional[str] = None
    owner: Optional[Owner] = None
    log_path: Optional[str] = None          # background runs: the process's stdout/stderr
    heartbeat_at: Optional[float] = None    # last sign of life of a STARTED run (the store's clock)
    history: list[HistoryEntry] = field(default_factory=list)
    commands: list[CommandRecord] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    def host_statuses(self) -> dict[str, str]:
        """The last step status of each host (what the reference calls deploy_status)."""
        out: dict[str, str] = {}
        for h in self.history:
            if h.kind == KIND_STEP and h.host:
                out[h.host] = h.status
        return out

    def summary_dict(self) -> dict[str, Any]:
        """The record without history and commands (for lists)."""
        d = self.to_dict()
        d.pop("history")
        d.pop("commands")
        return d

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "node_path": self.node_path, "action": self.action,
            "status": self.status, "start": self.start, "end": self.end,
            "args": list(self.args), "kwargs": dict(self.kwargs), "user": self.user,
            "hosts": list(self.hosts), "sandbox": self.sandbox, "error": self.error,
            "owner": self.owner.to_dict() if self.owner else None, "log_path": self.log_path,
            "heartbeat_at": self.heartbeat_at,
            "history": [h.to_dict() for h in self.history],
            "commands": [c.to_dict() for c in self.commands],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        return cls(id=str(d["id"]), node_path=str(d.get("node_path") or ""), action=str(d.get("action") or ""),
                   start=float(d["start"]), status=str(d.get("status") or INIT),
                   args=list(d.get("args") or []), kwargs=dict(d.get("kwargs") or {}),
                   user=str(d.get("user") or ""), hosts=list(d.get("hosts") or []),
                   sandbox=bool(d.get("sandbox")), end=_opt_float(d.get("end")), error=d.get("error"),
                   owner=Owner.from_dict(d.get("owner")), log_path=d.get("log_path"),
                   heartbeat_at=_opt_float(d.get("heartbeat_at")),
                   history=[HistoryEntry.from_dict(h) for h in d.get("history") or []],
                   commands=[CommandRecord.from_dict(c) for c in d.get("commands") or []])


def _opt_float(v: Any) -> Optional[float]:
    return None if v is None else float(v)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _proc_stat_fields(pid: int) -> Optional[list[bytes]]:
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its last ')'.
    return stat[stat.rindex(b")") + 2:].split()


def _proc_start(pid: int) -> Optional[int]:
    fields = _proc_stat_fields(pid)
    # Field 22 of stat (starttime); fields[0] here is field 3 (state).
    return int(fields[19]) if fields and len(fields) > 19 else None


def _is_zombie(pid: int) -> bool:
    # A dead child not yet reaped by its parent still answers kill(pid, 0).
    fields = _proc_stat_fields(pid)
    return bool(fields) and fields[0] in (b"Z", b"X")
