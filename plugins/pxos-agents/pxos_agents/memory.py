"""Decision memory (seed 003's context-sync): what was decided, found and accepted, by ATOM id.

Every entry is first written to the ledger (record type ``DECISION``,
``RESULT`` or ``PROPOSAL``), and the ATOM id the ledger gives it becomes its
key here, so an entry can always be traced to its place in the hash chain.
The SQLite file ``PXOS_HOME/agents/memory.sqlite`` adds full-text search over
titles and bodies; agents query it before acting so that prior work is reused
instead of redone.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from pxos_kernel import NotFoundError, PxosError

from pxos_agents.db import open_database
from pxos_agents.prompts import digest

KINDS = {"decision": "DECISION", "result": "RESULT", "proposal": "PROPOSAL"}
MEMORY_CORRIDOR = "DISTRICT_7.CHAMBER_MEMORY.NODE_SAVE"

SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    atom_id  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL,
    body     TEXT NOT NULL,
    agent    TEXT NOT NULL,
    task_key TEXT,
    ts       TEXT NOT NULL,
    meta     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS memory_task_key ON memory(task_key);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_text USING fts5(atom_id UNINDEXED, title, body);
"""


@dataclass(frozen=True)
class Memory:
    """One remembered decision, result or proposal."""

    atom_id: str
    kind: str
    title: str
    body: str
    agent: str
    task_key: Optional[str]
    ts: str
    meta: dict

    def as_dict(self) -> dict:
        return asdict(self)


def _row(row: sqlite3.Row) -> Memory:
    import json

    return Memory(row["atom_id"], row["kind"], row["title"], row["body"], row["agent"], row["task_key"],
                  row["ts"], json.loads(row["meta"]))


class MemoryStore:
    """The memory of one ``PXOS_HOME``; ``kernel`` provides the ledger."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.path = Path(kernel.state_dir("agents")) / "memory.sqlite"
        self.db = open_database(self.path, "agent memory", SCHEMA)

    def remember(self, kind: str, title: str, body: str, *, agent: str, task_key: Optional[str] = None,
                 meta: Optional[dict] = None) -> Memory:
        """Write the entry to the ledger, then store it under the ATOM id it got."""
        import json

        if kind not in KINDS:
            raise PxosError(f"memory kind {kind!r} is unknown (use one of: {', '.join(KINDS)})")
        if not title.strip():
            raise PxosError("a memory entry needs a non-empty title")
        meta = dict(meta or {})
        record = self.kernel.checkpoint(KINDS[kind], f"remember_{kind}", {
            "title": title, "body": digest(body), "task_key": task_key, **meta},
            corridor=MEMORY_CORRIDOR, agent=agent)
        entry = Memory(record["id"], kind, title, body, agent, task_key, record["ts"], meta)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT INTO memory VALUES (?,?,?,?,?,?,?,?)",
                            (entry.atom_id, kind, title, body, agent, task_key, entry.ts, json.dumps(meta)))
            self.db.execute("INSERT INTO memory_text VALUES (?,?,?)", (entry.atom_id, title, body))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return entry

    def show(self, atom_id: str) -> Memory:
        row = self.db.execute("SELECT * FROM memory WHERE atom_id = ?", (atom_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no memory entry {atom_id} in {self.path}")
        return _row(row)

    def search(self, query: str, *, kind: Optional[str] = None, limit: int = 10) -> list[Memory]:
        """Entries matching any word of ``query``, best first (BM25 over title and body)."""
        words = re.findall(r"\w+", query.lower())
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        sql = ("SELECT m.* FROM memory_text t JOIN memory m ON m.atom_id = t.atom_id "
               "WHERE memory_text MATCH ?" + (" AND m.kind = ?" if kind else "") + " ORDER BY bm25(memory_text) LIMIT ?")
        params = (match, kind, limit) if kind else (match, limit)
        return [_row(r) for r in self.db.execute(sql, params)]

    def for_task(self, task_key: str, kind: Optional[str] = None) -> list[Memory]:
        """Entries stored for exactly this task (same goal and files), newest first."""
        sql = "SELECT * FROM memory WHERE task_key = ?" + (" AND kind = ?" if kind else "") + " ORDER BY ts DESC"
        return [_row(r) for r in self.db.execute(sql, (task_key, kind) if kind else (task_key,))]

    def close(self) -> None:
        self.db.close()


def task_key(goal: str, files: dict) -> str:
    """A digest naming a task by its goal and starting files, so reruns find their prior work."""
    from pxos_kernel import canonical_json

    return digest(canonical_json({"goal": " ".join(goal.split()).lower(), "files": dict(files)}))
