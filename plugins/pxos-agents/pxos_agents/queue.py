"""The durable task queue: SQLite in ``PXOS_HOME/agents/queue.sqlite``.

A task has a goal, its files and test command, a phase, a priority and
dependencies on other tasks. Its state is one of::

    pending -> in_progress -> review -> completed
                    |            |
                    +-> (attempt failed) -> pending again, or failed after max_attempts
    blocked: a task it depends on failed (it comes back when that one is requeued)

``claim`` takes the best ready task (highest priority, then oldest, every
dependency completed, not flagged for a human) inside one ``BEGIN IMMEDIATE``
transaction, so any number of worker processes can claim at once and no
task is handed out twice. A task that uses up its attempts is ``failed`` and
flagged for a human; ``requeue`` gives it a fresh set of attempts. A file
SQLite cannot read is refused, never wiped (see :mod:`pxos_agents.db`).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from pxos_kernel import NotFoundError, PxosError, Task

from pxos_agents.db import open_database

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
_CLAIMABLE = """SELECT id FROM tasks WHERE state = 'pending' AND needs_human = 0 {phase} AND NOT EXISTS (
    SELECT 1 FROM deps d JOIN tasks t ON t.id = d.depends_on WHERE d.task_id = tasks.id AND t.state != 'completed')
    ORDER BY priority DESC, id LIMIT 1"""


def _propagate_blocking(db: sqlite3.Connection) -> None:
    """Block tasks behind failed/blocked ones and release the rest, down whole dependency chains.

    Only failing, requeueing and adding with dependencies can change this, so
    ``claim`` (the hot path) never pays for it.
    """
    now = _now()
    while db.execute(_BLOCK, {"now": now}).rowcount + db.execute(_UNBLOCK, {"now": now}).rowcount:
        pass


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


class TaskQueue:
    """The queue file at ``path``; one object per process (or thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = open_database(self.path, "task queue", SCHEMA)

    @classmethod
    def of(cls, kernel: Any) -> "TaskQueue":
        return cls(Path(kernel.state_dir("agents")) / "queue.sqlite")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so a read-then-write cannot race."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _row(self, task_id: int) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id} in queue {self.path}")
        return row

    def get(self, task_id: int) -> QueuedTask:
        row = self._row(task_id)
        deps = [r[0] for r in self.db.execute("SELECT depends_on FROM deps WHERE task_id = ? ORDER BY 1", (task_id,))]
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
        with self._write() as db:
            for dep in depends_on:
                self._row(dep)
            cursor = db.execute(
                "INSERT INTO tasks (goal, context, files, test_command, phase, priority, max_attempts, created, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (goal, context, json.dumps(files or {}, sort_keys=True), json.dumps(list(test_command)),
                 phase, int(priority), int(max_attempts), now, now))
            task_id = cursor.lastrowid
            db.executemany("INSERT INTO deps VALUES (?, ?)", [(task_id, d) for d in depends_on])
            if depends_on:
                _propagate_blocking(db)
        return self.get(task_id)

    def list(self, *, state: Optional[str] = None, phase: Optional[str] = None) -> list[QueuedTask]:
        if state is not None and state not in STATES:
            raise PxosError(f"task state {state!r} is unknown (states: {', '.join(STATES)})")
        sql, params = "SELECT id FROM tasks WHERE 1=1", []
        if state:
            sql, params = sql + " AND state = ?", params + [state]
        if phase:
            sql, params = sql + " AND phase = ?", params + [phase]
        return [self.get(r[0]) for r in self.db.execute(sql + " ORDER BY priority DESC, id", params).fetchall()]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        counts.update({r[0]: r[1] for r in self.db.execute("SELECT state, count(*) FROM tasks GROUP BY state")})
        return counts

    # -- the life of a task ------------------------------------------------------------

    def claim(self, worker: str, phase: Optional[str] = None) -> Optional[QueuedTask]:
        """Take the best ready task (``in_progress``, one more attempt), or ``None``."""
        now = _now()
        with self._write() as db:
            sql = _CLAIMABLE.format(phase="AND phase = ?" if phase else "")
            row = db.execute(sql, (phase,) if phase else ()).fetchone()
            if row is None:
                return None
            db.execute("UPDATE tasks SET state = 'in_progress', attempts = attempts + 1, worker = ?, updated = ? "
                       "WHERE id = ?", (worker, now, row[0]))
        return self.get(row[0])

    def _move(self, task_id: int, allowed: tuple[str, ...], sets: str, params: dict,
              propagate: bool = False) -> QueuedTask:
        with self._write() as db:
            state = self._row(task_id)["state"]
            if state not in allowed:
                raise QueueStateError(f"task {task_id} is {state}; this needs it to be {' or '.join(allowed)}")
            db.execute(f"UPDATE tasks SET {sets}, updated = :now WHERE id = :id", {**params, "id": task_id, "now": _now()})
            if propagate:
                _propagate_blocking(db)
        return self.get(task_id)

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
