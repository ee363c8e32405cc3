"""SQL backends: SQLite (the embedded default) and PostgreSQL (a history shared by a team).

Both share the schema and the queries; only connecting, transactions and the
parameter style differ. Every write is one transaction (or part of one
:meth:`~RunStore.batch`), so a record is never half-written, and the run row is
locked while a history ``seq`` is assigned.
"""
from __future__ import annotations

import abc
import contextlib
import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from deployer.runs.errors import RunNotFound, RunStoreError
from deployer.runs.model import ACTIVE_STATES, STARTED, CommandRecord, HistoryEntry, Owner, RunRecord
from deployer.runs.stores.base import RunStore, check_fields, mask_url

_RUN_COLUMNS = ("id", "node_path", "action", "status", "start_time", "end_time", "args", "kwargs",
                "username", "hosts", "sandbox", "error", "owner", "log_path", "heartbeat_at")
_CMD_COLUMNS = ("run_id", "command_id", "seq", "host", "command", "start_time", "end_time", "exit_code",
                "duration", "output_tail", "error", "use_sudo", "sandbox")

# Field name on RunRecord -> column name (``end`` and ``user`` are reserved words in SQL).
_FIELD_COLUMN = {"start": "start_time", "end": "end_time", "user": "username"}
_JSON_FIELDS = ("args", "kwargs", "hosts", "owner")


def _schema(prefix: str) -> list[str]:
    return [
        """CREATE TABLE IF NOT EXISTS {p}runs (
            id TEXT PRIMARY KEY, node_path TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL,
            start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION, args TEXT NOT NULL,
            kwargs TEXT NOT NULL, username TEXT NOT NULL, hosts TEXT NOT NULL, sandbox INTEGER NOT NULL,
            error TEXT, owner TEXT, log_path TEXT, heartbeat_at DOUBLE PRECISION)""",
        "CREATE INDEX IF NOT EXISTS {p}runs_start ON {p}runs (start_time)",
        "CREATE INDEX IF NOT EXISTS {p}runs_status ON {p}runs (status)",
        """CREATE TABLE IF NOT EXISTS {p}history (
            run_id TEXT NOT NULL REFERENCES {p}runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
            time DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, kind TEXT NOT NULL, host TEXT,
            detail TEXT NOT NULL, PRIMARY KEY (run_id, seq))""",
        """CREATE TABLE IF NOT EXISTS {p}commands (
            run_id TEXT NOT NULL REFERENCES {p}runs (id) ON DELETE CASCADE, command_id TEXT NOT NULL,
            seq INTEGER NOT NULL, host TEXT NOT NULL, command TEXT NOT NULL,
            start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION, exit_code INTEGER,
            duration DOUBLE PRECISION, output_tail TEXT NOT NULL, error TEXT, use_sudo INTEGER NOT NULL,
            sandbox INTEGER NOT NULL, PRIMARY KEY (run_id, command_id))""",
        # A new command's seq is MAX(seq) + 1 of its run: without this, a scan of the run's commands.
        "CREATE INDEX IF NOT EXISTS {p}commands_seq ON {p}commands (run_id, seq)",
    ]


#: Columns added after the first release: (name, type), added to an older table when it is opened.
_ADDED_RUN_COLUMNS = (("heartbeat_at", "DOUBLE PRECISION"),)


class _SQLStore(RunStore):
    """The queries; subclasses provide ``_lock`` (an RLock) and ``_transaction()`` (a cursor inside one
    transaction, called with ``_lock`` held)."""

    param = "?"
    prefix = ""
    lock_run_sql = ""      # appended to the SELECT that locks a run row in a write
    _lock: threading.RLock
    #: The cursor of the open batch. Only the thread holding ``_lock`` (the batch's) sees it set.
    _batch_cur: Any = None

    def _q(self, sql: str) -> str:
        return sql.replace("{p}", self.prefix).replace("?", self.param)

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a transaction of its own (each backend opens it its way)."""

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor in a transaction: the open batch's, else a transaction of its own."""
        with self._lock:
            if self._batch_cur is not None:
                yield self._batch_cur
                return
            with self._transaction() as cur:
                yield cur

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._tx() as cur:
            outer = self._batch_cur is None
            if outer:
                self._batch_cur = cur
            try:
                yield
            finally:
                if outer:
                    self._batch_cur = None

    # -- writes ------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        with self._tx() as cur:
            cur.execute(self._q("INSERT INTO {p}runs (%s) VALUES (%s)" % (
                ", ".join(_RUN_COLUMNS), ", ".join("?" * len(_RUN_COLUMNS)))), _run_row(run))
            for i, h in enumerate(run.history, 1):
                self._insert_history(cur, run.id, i, h)
            for i, c in enumerate(run.commands, 1):
                self._upsert_command(cur, run.id, i, c)

    def update_run(self, run_id: str, **fields: Any) -> None:
        check_fields(fields)
        if not fields:
            return
        cols, values = [], []
        for name, value in fields.items():
            cols.append("%s = ?" % _FIELD_COLUMN.get(name, name))
            values.append(_to_column(name, value))
        with self._tx() as cur:
            cur.execute(self._q("UPDATE {p}runs SET %s WHERE id = ?" % ", ".join(cols)), (*values, run_id))
            if cur.rowcount == 0:
                raise RunNotFound(run_id)

    def add_history(self, run_id: str, entry: HistoryEntry) -> None:
        with self._tx() as cur:
            self._lock_run(cur, run_id)
            self._insert_history(cur, run_id, self._next_seq(cur, "history", run_id), entry)

    def upsert_command(self, run_id: str, command: CommandRecord) -> None:
        with self._tx() as cur:
            self._lock_run(cur, run_id)
            cur.execute(self._q("SELECT seq FROM {p}commands WHERE run_id = ? AND command_id = ?"),
                        (run_id, command.command_id))
            row = cur.fetchone()
            seq = row[0] if row else self._next_seq(cur, "commands", run_id)
            self._upsert_command(cur, run_id, seq, command)

    #: The store's clock in SQL (PostgreSQL: the server's, shared by every machine); None: ours.
    _now_sql: Optional[str] = None
    #: First statement of a transaction that reads a whole record, so that its run, history and
    #: commands come from one snapshot (no batch seen half-applied); None: every transaction is one.
    _read_snapshot_sql: Optional[str] = None

    def heartbeat(self, run_id: str) -> bool:
        sql = "UPDATE {p}runs SET heartbeat_at = %s WHERE id = ? AND status = ?"
        with self._tx() as cur:
            if self._now_sql:
                cur.execute(self._q(sql % self._now_sql), (run_id, STARTED))
            else:
                cur.execute(self._q(sql % "?"), (time.time(), run_id, STARTED))
            return cur.rowcount > 0

    def transition(self, run_id: str, entry: HistoryEntry, *, end: Optional[float] = None,
                   error: Optional[str] = None, expect_status: Iterable[str] = (),
                   expect_owner_pid: Optional[int] = None,
                   expect_heartbeat_before: Optional[float] = None) -> bool:
        expect = tuple(expect_status)
        with self._tx() as cur:
            status, owner, beat = self._lock_run(cur, run_id)
            if expect and status not in expect:
                return False
            if expect_owner_pid is not None:
                current = Owner.from_dict(json.loads(owner) if owner else None)
                if current is None or current.pid != expect_owner_pid:
                    return False
            if expect_heartbeat_before is not None and (beat is None or beat >= expect_heartbeat_before):
                return False
            sets, values = ["status = ?"], [entry.status]
            if end is not None:
                sets.append("end_time = ?")
                values.append(end)
            if error is not None:
                sets.append("error = ?")
                values.append(error)
            cur.execute(self._q("UPDATE {p}runs SET %s WHERE id = ?" % ", ".join(sets)), (*values, run_id))
            self._insert_history(cur, run_id, self._next_seq(cur, "history", run_id), entry)
            return True

    def _lock_run(self, cur: Any, run_id: str) -> tuple[str, Optional[str], Optional[float]]:
        cur.execute(self._q("SELECT status, owner, heartbeat_at FROM {p}runs WHERE id = ?" + self.lock_run_sql),
                    (run_id,))
        row = cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return row[0], row[1], row[2]

    def _migrate(self, cur: Any, existing: Iterable[str]) -> None:
        """Add the columns a table made by an older deployer lacks (``existing``: its column names)."""
        have = {c.lower() for c in existing}
        for name, kind in _ADDED_RUN_COLUMNS:
            if name not in have:
                cur.execute(self._q("ALTER TABLE {p}runs ADD COLUMN %s %s" % (name, kind)))

    def _next_seq(self, cur: Any, table: str, run_id: str) -> int:
        cur.execute(self._q("SELECT COALESCE(MAX(seq), 0) + 1 FROM {p}%s WHERE run_id = ?" % table), (run_id,))
        return int(cur.fetchone()[0])

    def _insert_history(self, cur: Any, run_id: str, seq: int, h: HistoryEntry) -> None:
        cur.execute(self._q("INSERT INTO {p}history (run_id, seq, time, status, kind, host, detail) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)"),
                    (run_id, seq, h.time, h.status, h.kind, h.host, h.detail))

    def _upsert_command(self, cur: Any, run_id: str, seq: int, c: CommandRecord) -> None:
        updates = ", ".join("%s = excluded.%s" % (col, col) for col in _CMD_COLUMNS[3:])
        cur.execute(self._q("INSERT INTO {p}commands (%s) VALUES (%s) ON CONFLICT (run_id, command_id) "
                            "DO UPDATE SET %s" % (", ".join(_CMD_COLUMNS), ", ".join("?" * len(_CMD_COLUMNS)),
                                                  updates)),
                    (run_id, c.command_id, seq, c.host, c.command, c.start, c.end, c.exit_code, c.duration,
                     c.output_tail, c.error, int(c.use_sudo), int(c.sandbox)))

    # -- reads -------------------------------------------------------------------------

    def _get(self, run_id: str) -> RunRecord:
        with self._tx() as cur:
            if self._read_snapshot_sql and self._batch_cur is None:
                cur.execute(self._read_snapshot_sql)
            cur.execute(self._q("SELECT %s FROM {p}runs WHERE id = ?" % ", ".join(_RUN_COLUMNS)), (run_id,))
            row = cur.fetchone()
            if row is None:
                raise RunNotFound(run_id)
            run = _run_from_row(row)
            cur.execute(self._q("SELECT seq, time, status, kind, host, detail FROM {p}history "
                                "WHERE run_id = ? ORDER BY seq"), (run_id,))
            run.history = [HistoryEntry(seq=r[0], time=r[1], status=r[2], kind=r[3], host=r[4], detail=r[5])
                           for r in cur.fetchall()]
            cur.execute(self._q("SELECT %s FROM {p}commands WHERE run_id = ? ORDER BY seq"
                                % ", ".join(_CMD_COLUMNS)), (run_id,))
            run.commands = [_command_from_row(r) for r in cur.fetchall()]
        return run

    def _list(self, status: Optional[str], node: Optional[str], since: Optional[float],
              limit: Optional[int], offset: int) -> list[RunRecord]:
        where, values = [], []
        if status:
            where.append("status = ?")
            values.append(status)
        if node:
            # The node itself or anything below it.
            where.append("(node_path = ? OR substr(node_path, 1, ?) = ?)")
            values += [node, len(node) + 1, node + "."]
        if since is not None:
            where.append("start_time >= ?")
            values.append(since)
        sql = "SELECT %s FROM {p}runs" % ", ".join(_RUN_COLUMNS)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time DESC, id DESC"
        if limit is not None:
            sql += " LIMIT %d" % max(0, int(limit))
        if offset:
            sql += (" OFFSET %d" % offset) if limit is not None else self._offset_only(offset)
        with self._tx() as cur:
            cur.execute(self._q(sql), values)
            return [_run_from_row(r) for r in cur.fetchall()]

    def _offset_only(self, offset: int) -> str:
        return " OFFSET %d" % offset

    def _active(self) -> list[RunRecord]:
        with self._tx() as cur:
            cur.execute(self._q("SELECT %s FROM {p}runs WHERE status IN (?, ?)" % ", ".join(_RUN_COLUMNS)),
                        ACTIVE_STATES)
            return [_run_from_row(r) for r in cur.fetchall()]


class SQLiteStore(_SQLStore):
    """Runs in one SQLite file: WAL mode, so several processes can write at once.

    ``synchronous=NORMAL`` in WAL mode makes a commit cost no fsync: a crash of
    the process loses nothing committed and never corrupts; only a power loss can
    lose the last few commits.
    """

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.url = "sqlite://" + path
        self._lock = threading.RLock()
        try:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self._busy_timeout = busy_timeout
            self._closed = False
            self._conn: Optional[sqlite3.Connection] = None
            with self._tx() as cur:
                for stmt in _schema(""):
                    cur.execute(self._q(stmt))
                cur.execute("PRAGMA table_info(runs)")
                self._migrate(cur, [r[1] for r in cur.fetchall()])
        except (sqlite3.Error, OSError) as e:
            raise RunStoreError(self.url, str(e)) from e

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the
        # write lock up front and waits (busy timeout) instead of failing on upgrade.
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = %d" % int(self._busy_timeout * 1000))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                raise RunStoreError(self.url, "the store was closed")
            if self._conn is None:
                try:
                    self._conn = self._connect()
                except sqlite3.Error as e:
                    raise RunStoreError(self.url, str(e)) from e
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                cur.close()

    def _offset_only(self, offset: int) -> str:
        return " LIMIT -1 OFFSET %d" % offset

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.release()


class PostgresStore(_SQLStore):
    """Runs in PostgreSQL, for a team sharing one history.

    The URL is a libpq URL; ``?schema=NAME`` keeps the tables in their own schema
    (created when missing).
    """

    param = "%s"
    lock_run_sql = " FOR UPDATE"
    _now_sql = "extract(epoch from clock_timestamp())"
    # READ COMMITTED (the default) takes a snapshot per statement.
    _read_snapshot_sql = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"

    def __init__(self, url: str, connect_timeout: float = 10.0) -> None:
        import psycopg

        self.url = mask_url(url)
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", None)
        if schema is not None and not schema.replace("_", "").isalnum():
            raise RunStoreError(self.url, "schema name must be letters, digits and _: %r" % schema)
        query.setdefault("connect_timeout", str(int(connect_timeout)))
        conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        self.prefix = ('"%s".' % schema) if schema else ""
        self._lock = threading.RLock()
        self._psycopg = psycopg
        self._conninfo = conninfo
        self._closed = False
        try:
            self._conn = psycopg.connect(conninfo, autocommit=False)
            with self._tx() as cur:
                # Several processes may create the schema at once: serialise them.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('deployer.runs.schema'))")
                if schema:
                    cur.execute('CREATE SCHEMA IF NOT EXISTS "%s"' % schema)
                for stmt in _schema(self.prefix):
                    cur.execute(stmt.replace("{p}", self.prefix).replace(
                        "INDEX IF NOT EXISTS %s" % self.prefix, "INDEX IF NOT EXISTS "))
                cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' "
                            "AND table_schema = COALESCE(%s, current_schema())", (schema,))
                self._migrate(cur, [r[0] for r in cur.fetchall()])
        except psycopg.Error as e:
            raise RunStoreError(self.url, str(e).strip()) from e

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                raise RunStoreError(self.url, "the store was closed")
            if self._conn.closed or self._conn.broken:
                # A PostgreSQL restart must not end recording for good: reconnect once.
                try:
                    self._conn = self._psycopg.connect(self._conninfo, autocommit=False)
                except self._psycopg.Error as e:
                    raise RunStoreError(self.url, str(e).strip()) from e
            with self._conn.transaction():
                with self._conn.cursor() as cur:
                    yield cur

    def now(self) -> float:
        # The server's clock: machines sharing the store need not agree on the time.
        with self._tx() as cur:
            cur.execute("SELECT %s" % self._now_sql)
            return float(cur.fetchone()[0])

    def release(self) -> None:
        with self._lock:
            self._conn.close()      # _tx connects again on the next call

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    return (run.id, run.node_path, run.action, run.status, run.start, run.end, json.dumps(run.args, default=str),
            json.dumps(run.kwargs, default=str), run.user, json.dumps(run.hosts), int(run.sandbox), run.error,
            json.dumps(run.owner.to_dict()) if run.owner else None, run.log_path, run.heartbeat_at)


def _to_column(name: str, value: Any) -> Any:
    if name == "owner":
        return json.dumps(value.to_dict()) if value is not None else None
    if name in _JSON_FIELDS:
        return json.dumps(value, default=str)
    if name == "sandbox":
        return int(bool(value))
    return value


def _run_from_row(r: tuple[Any, ...]) -> RunRecord:
    return RunRecord(id=r[0], node_path=r[1], action=r[2], status=r[3], start=r[4], end=r[5],
                     args=json.loads(r[6]), kwargs=json.loads(r[7]), user=r[8], hosts=json.loads(r[9]),
                     sandbox=bool(r[10]), error=r[11], owner=Owner.from_dict(json.loads(r[12]) if r[12] else None),
                     log_path=r[13], heartbeat_at=r[14])


def _command_from_row(r: tuple[Any, ...]) -> CommandRecord:
    return CommandRecord(command_id=r[1], seq=r[2], host=r[3], command=r[4], start=r[5], end=r[6],
                         exit_code=r[7], duration=r[8], output_tail=r[9], error=r[10], use_sudo=bool(r[11]),
                         sandbox=bool(r[12]))
