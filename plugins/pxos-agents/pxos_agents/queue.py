"""The durable task queue: SQLite in ``PXOS_HOME/agents/queue.sqlite``.

A task has a goal, its files and test command, a phase, a priority and
dependencies on other tasks. Its state is one of::

    pending -> in_progress -> review -> completed
                    |            |
                    +-> (attempt failed) -> pending again, or failed after max_attempts
    blocked: a task it depends on failed (it comes back when that one is requeued)

``claim`` takes the best ready task (highest priority, then oldest, every
dependency completed, not flagged for a human), so any number of workers can
claim at once and no task is handed out twice. A task that uses up its
attempts is ``failed`` and flagged for a human; ``requeue`` gives it a fresh
set of attempts.

Two backends share every rule below (the SQL is written once):

* :class:`TaskQueue`, SQLite, the embedded default: claims inside one
  ``BEGIN IMMEDIATE`` transaction. A file SQLite cannot read, or an SQLite
  database that is not a pxOS queue, is refused, never wiped.
* :class:`PostgresTaskQueue`, for workers on several machines: claims with
  ``SELECT ... FOR UPDATE SKIP LOCKED``, so claimers skip each other's rows
  instead of waiting. Selected in config::

      agents:
        queue: {backend: postgres, dsn: "host=db user=pxos dbname=pxos", schema: pxos_queue}
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from pxos_kernel import NotFoundError, PxosError, Task

from pxos_agents.db import describe_foreign, open_database

STATES = ("pending", "in_progress", "review", "completed", "failed", "blocked")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    goal         TEXT NOT NULL,
    context      TEXT NOT NULL DEFAULT '',
    files        TEXT NOT NULL DEFAULT '{}',
    test_command TEXT NOT NULL DEFAULT '[]',
    phase        TEXT NOT NULL DEFAULT 'default',
    priority     INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending','in_progress','review','completed','failed','blocked')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    needs_human  INTEGER NOT NULL DEFAULT 0,
    human_reason TEXT,
    worker       TEXT,
    last_error   TEXT,
    result       TEXT,
    created      TEXT NOT NULL,
    updated      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deps (
    task_id    INTEGER NOT NULL REFERENCES tasks(id),
    depends_on INTEGER NOT NULL REFERENCES tasks(id),
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX IF NOT EXISTS tasks_ready ON tasks(state, priority DESC, id);
CREATE INDEX IF NOT EXISTS tasks_ready_phase ON tasks(state, phase, priority DESC, id);
CREATE INDEX IF NOT EXISTS deps_depends_on ON deps(depends_on);
"""

#: Pending tasks with a failed or blocked dependency become blocked, and back.
_BLOCK = """UPDATE tasks SET state = 'blocked', updated = :now WHERE state = 'pending' AND EXISTS (
    SELECT 1 FROM deps d JOIN tasks t ON t.id = d.depends_on
    WHERE d.task_id = tasks.id AND t.state IN ('failed', 'blocked'))"""
_UNBLOCK = """UPDATE tasks SET state = 'pending', updated = :now WHERE state = 'blocked' AND NOT EXISTS (
    SELECT 1 FROM deps d JOIN tasks t ON t.id = d.depends_on
    WHERE d.task_id = tasks.id AND t.state IN ('failed', 'blocked'))"""
_COLUMNS = ("id", "goal", "context", "files", "test_command", "phase", "priority", "state", "attempts",
            "max_attempts", "needs_human", "human_reason", "worker", "last_error", "result", "created", "updated")
#: A database holding other tables, or these with other columns, is not a pxOS queue.
_EXPECTED_TABLES = {"tasks": set(_COLUMNS), "deps": {"task_id", "depends_on"}}
_CLAIMABLE = """SELECT id FROM tasks WHERE state = 'pending' AND needs_human = 0 {phase} AND NOT EXISTS (
    SELECT 1 FROM deps d JOIN tasks t ON t.id = d.depends_on WHERE d.task_id = tasks.id AND t.state != 'completed')
    ORDER BY priority DESC, id LIMIT 1"""


class QueueStateError(PxosError):
    """A task was asked to move in a way its state does not allow."""


@dataclass(frozen=True)
class QueuedTask:
    """One row of the queue."""

    id: int
    goal: str
    context: str
    files: dict
    test_command: list
    phase: str
    priority: int
    state: str
    attempts: int
    max_attempts: int
    needs_human: bool
    human_reason: Optional[str]
    worker: Optional[str]
    last_error: Optional[str]
    result: Optional[dict]
    depends_on: list
    created: str
    updated: str

    def as_task(self, context: Optional[str] = None) -> Task:
        """The agent-facing :class:`~pxos_kernel.interfaces.Task`."""
        return Task(goal=self.goal, context=self.context if context is None else context, files=dict(self.files),
                    test_command=tuple(self.test_command), id=f"task-{self.id}")

    def as_dict(self) -> dict:
        return asdict(self)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_queue(kernel: Any) -> "TaskQueue":
    """The queue config selects (``agents.queue``): SQLite in ``PXOS_HOME/agents`` unless it names postgres."""
    settings = kernel.section("agents").get("queue") or {}
    if not isinstance(settings, dict):
        raise PxosError("config agents.queue must be a mapping, e.g. {backend: postgres, dsn: ...}")
    backend = settings.get("backend", "sqlite")
    if backend == "sqlite":
        return TaskQueue(Path(settings.get("path") or Path(kernel.state_dir("agents")) / "queue.sqlite"))
    if backend == "postgres":
        dsn = settings.get("dsn") or kernel.env.get("PXOS_QUEUE_DSN")
        if not dsn:
            raise PxosError("the postgres task queue needs a DSN: set agents.queue.dsn in config.yaml or PXOS_QUEUE_DSN")
        return PostgresTaskQueue(dsn, schema=settings.get("schema", "pxos_queue"))
    raise PxosError(f"config agents.queue.backend {backend!r} is not one of sqlite, postgres")


class TaskQueue:
    """The SQLite queue file at ``path``; one object per process (or thread).

    The rules live here once, as SQL with ``?`` and ``:name`` parameters;
    :class:`PostgresTaskQueue` runs the same statements on PostgreSQL.
    """

    #: What claim adds to the query that picks the task (PostgreSQL: skip rows other claimers hold).
    _CLAIM_LOCK = ""
    #: What a state change adds to reading the row it changes (PostgreSQL: lock it).
    _ROW_LOCK = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.db = open_database(self.path, "task queue", SCHEMA, expect=_EXPECTED_TABLES, kind="pxOS task queue")

    @classmethod
    def of(cls, kernel: Any) -> "TaskQueue":
        """The queue selected in config (see :func:`open_queue`)."""
        return open_queue(kernel)

    def _execute(self, sql: str, params: Any = ()) -> Any:
        return self.db.execute(sql, params)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """One write transaction, taken up front so a read-then-write cannot race."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _serialise_propagation(self) -> None:
        """Nothing for SQLite: its write transactions already run one at a time."""

    def _row(self, task_id: int, lock: bool = False) -> tuple:
        row = self._execute(f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE id = ?" + (self._ROW_LOCK if lock else ""),
                            (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id} in queue {self.location}")
        return tuple(row)

    def get(self, task_id: int) -> QueuedTask:
        row = dict(zip(_COLUMNS, self._row(task_id)))
        deps = [r[0] for r in self._execute("SELECT depends_on FROM deps WHERE task_id = ? ORDER BY 1",
                                            (task_id,)).fetchall()]
        return QueuedTask(
            row["id"], row["goal"], row["context"], json.loads(row["files"]), json.loads(row["test_command"]),
            row["phase"], row["priority"], row["state"], row["attempts"], row["max_attempts"],
            bool(row["needs_human"]), row["human_reason"], row["worker"], row["last_error"],
            json.loads(row["result"]) if row["result"] else None, deps, row["created"], row["updated"])

    # -- adding and listing --------------------------------------------------------------

    def add(self, goal: str, *, context: str = "", files: Optional[dict] = None,
            test_command: Sequence[str] = (), phase: str = "default", priority: int = 0,
            depends_on: Sequence[int] = (), max_attempts: int = 3) -> QueuedTask:
        """Queue a new task (``pending``, or ``blocked`` behind a failed dependency)."""
        if not goal or not goal.strip():
            raise PxosError("a task needs a non-empty goal")
        if max_attempts < 1:
            raise PxosError(f"max_attempts must be at least 1, not {max_attempts}")
        now = _now()
        with self._write() as q:
            for dep in depends_on:
                self._row(dep)
            task_id = q._execute(
                "INSERT INTO tasks (goal, context, files, test_command, phase, priority, max_attempts, created, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                (goal, context, json.dumps(files or {}, sort_keys=True), json.dumps(list(test_command)),
                 phase, int(priority), int(max_attempts), now, now)).fetchone()[0]
            for dep in depends_on:
                q._execute("INSERT INTO deps (task_id, depends_on) VALUES (?, ?)", (task_id, dep))
            if depends_on:
                self._propagate_blocking()
        return self.get(task_id)

    def list(self, *, state: Optional[str] = None, phase: Optional[str] = None) -> list[QueuedTask]:
        if state is not None and state not in STATES:
            raise PxosError(f"task state {state!r} is unknown (states: {', '.join(STATES)})")
        sql = "SELECT id FROM tasks WHERE 1=1"
        params: list[Any] = []
        if state:
            sql, params = sql + " AND state = ?", params + [state]
        if phase:
            sql, params = sql + " AND phase = ?", params + [phase]
        return [self.get(r[0]) for r in self._execute(sql + " ORDER BY priority DESC, id", params).fetchall()]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        counts.update({r[0]: r[1] for r in self._execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall()})
        return counts

    # -- the life of a task ------------------------------------------------------------

    def claim(self, worker: str, phase: Optional[str] = None) -> Optional[QueuedTask]:
        """Take the best ready task (``in_progress``, one more attempt), or ``None``."""
        now = _now()
        with self._write() as q:
            sql = _CLAIMABLE.format(phase="AND phase = ?" if phase else "") + self._CLAIM_LOCK
            row = q._execute(sql, (phase,) if phase else ()).fetchone()
            if row is None:
                return None
            q._execute("UPDATE tasks SET state = 'in_progress', attempts = attempts + 1, worker = ?, updated = ? "
                       "WHERE id = ?", (worker, now, row[0]))
        return self.get(row[0])

    def _move(self, task_id: int, allowed: tuple[str, ...], sets: str, params: dict,
              propagate: bool = False) -> QueuedTask:
        with self._write() as q:
            if propagate:
                self._serialise_propagation()
            state = self._row(task_id, lock=True)[_COLUMNS.index("state")]
            if state not in allowed:
                raise QueueStateError(f"task {task_id} is {state}; this needs it to be {' or '.join(allowed)}")
            q._execute(f"UPDATE tasks SET {sets}, updated = :now WHERE id = :id", {**params, "id": task_id, "now": _now()})
            if propagate:
                self._propagate_blocking()
        return self.get(task_id)

    def _propagate_blocking(self) -> None:
        """Block tasks behind failed/blocked ones and release the rest, down whole dependency chains.

        Only failing, requeueing and adding with dependencies can change this, so
        ``claim`` (the hot path) never pays for it.
        """
        self._serialise_propagation()
        now = _now()
        while self._execute(_BLOCK, {"now": now}).rowcount + self._execute(_UNBLOCK, {"now": now}).rowcount:
            pass

    def to_review(self, task_id: int) -> QueuedTask:
        return self._move(task_id, ("in_progress",), "state = 'review'", {})

    def complete(self, task_id: int, result: Optional[dict] = None) -> QueuedTask:
        return self._move(task_id, ("in_progress", "review"), "state = 'completed', last_error = NULL, result = :r",
                          {"r": json.dumps(result or {}, sort_keys=True)})

    def fail(self, task_id: int, error: str) -> QueuedTask:
        """An attempt failed: back to ``pending`` while attempts remain, else ``failed`` and flagged."""
        return self._move(
            task_id, ("in_progress", "review"),
            "last_error = :e, state = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END, "
            "needs_human = CASE WHEN attempts < max_attempts THEN needs_human ELSE 1 END, "
            "human_reason = CASE WHEN attempts < max_attempts THEN human_reason ELSE :why END",
            {"e": error, "why": "failed after its last attempt"}, propagate=True)

    def requeue(self, task_id: int) -> QueuedTask:
        """Give a task a fresh set of attempts and unflag it.

        For failed and blocked tasks, and for one left ``in_progress`` or
        ``review`` by a worker that crashed (a live worker then gets a
        QueueStateError when it tries to finish it).
        """
        return self._move(task_id, ("failed", "blocked", "pending", "in_progress", "review"),
                          "state = 'pending', attempts = 0, needs_human = 0, human_reason = NULL, worker = NULL", {},
                          propagate=True)

    def flag(self, task_id: int, reason: str) -> QueuedTask:
        """Flag a task for a human: it is not claimed until requeued."""
        return self._move(task_id, STATES, "needs_human = 1, human_reason = :why", {"why": reason})

    def close(self) -> None:
        self.db.close()


#: The same tables in PostgreSQL: only the id column's type differs.
PG_SCHEMA = (SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
             .replace("INTEGER NOT NULL REFERENCES", "BIGINT NOT NULL REFERENCES"))
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NAMED = re.compile(r":([a-z_]+)")


class PostgresTaskQueue(TaskQueue):
    """The queue in schema ``schema`` of the PostgreSQL database at ``dsn``: workers on many machines share it.

    The same states, dependencies, retries and human flag as the SQLite queue
    (the statements are the same); claims take the best ready row with
    ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait on each other
    and never take one task twice. Transactions run at READ COMMITTED; the
    dependency propagation after a failure or requeue holds a transaction-level
    advisory lock, so two of them never interleave.
    """

    _CLAIM_LOCK = " FOR UPDATE SKIP LOCKED"
    _ROW_LOCK = " FOR UPDATE"

    db: Any  # a psycopg connection, where TaskQueue has an sqlite3 one

    def __init__(self, dsn: str, schema: str = "pxos_queue") -> None:
        try:
            import psycopg
        except ImportError:
            raise PxosError("the postgres task queue needs psycopg 3: pip install 'pxos-agents[postgres]'") from None
        if not _SCHEMA_NAME.match(schema or ""):
            raise PxosError(f"task queue schema name {schema!r} must be lower-case letters, digits and '_'")
        self._psycopg = psycopg
        try:
            self.db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise PxosError(f"cannot connect to the task queue database: {str(exc).strip().splitlines()[0]}") from None
        info = self.db.info
        self.path = Path(schema)
        self.location = f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname} schema {schema}"
        self._in_transaction = False
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pxos-queue-schema:{schema}",))
            self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            self.db.execute(f"SET search_path TO {schema}")
            self._check_foreign(schema)
            for statement in filter(str.strip, PG_SCHEMA.split(";")):
                self.db.execute(statement)

    def _check_foreign(self, schema: str) -> None:
        columns: dict[str, set[str]] = {}
        for table, column in self.db.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
                (schema,)).fetchall():
            columns.setdefault(table, set()).add(column)
        problem = describe_foreign(columns, _EXPECTED_TABLES)
        if problem:
            raise PxosError(f"task queue {self.location}: not a pxOS queue ({problem}); "
                            "refusing to use it: name another schema")

    def _execute(self, sql: str, params: Any = ()) -> Any:
        sql = _NAMED.sub(r"%(\1)s", sql.replace("?", "%s"))
        try:
            return self.db.execute(sql, params)
        except self._psycopg.OperationalError as exc:
            raise PxosError(f"task queue {self.location}: {str(exc).strip().splitlines()[0]}") from None

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self.db.transaction():
            yield self

    def _serialise_propagation(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(hashtext('pxos-queue-propagate'))")
