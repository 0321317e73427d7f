"""The ``sqlite`` checkpoint sink: one SQLite database in WAL mode, safe for many processes.

An append is a compare-and-append inside one ``BEGIN IMMEDIATE`` transaction:
read the head, compare it with the new record's ``seq``/``prev``, insert. The
``seq`` column is the primary key, so even a writer that skipped the check
could not create a duplicate. A crash can never leave half a row: SQLite's
transactions are atomic, so ``repair`` has nothing to truncate unless the
file was damaged from outside.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from pxos_kernel import LedgerCorruptError, LedgerError
from pxos_ledger.rows import check_durability, decode, encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq  INTEGER PRIMARY KEY,          -- unique: two writers can never both append seq n
    id   TEXT NOT NULL,                -- ATOM ids embed seq, so they are unique too (no index:
                                       -- each index page more per commit makes WAL checkpoints come sooner)
    hash TEXT NOT NULL,
    body TEXT NOT NULL                 -- the record's canonical JSON, byte for byte
);
CREATE TABLE IF NOT EXISTS quarantine (  -- damaged rows set aside by 'ledger repair', never deleted
    seq INTEGER, body TEXT, reason TEXT, moved_at TEXT
);
"""
_SYNCHRONOUS = {"flush": "NORMAL", "fsync": "FULL", "group": "NORMAL"}
_READ_BATCH = 2000


class SqliteSink:
    """A ledger in a SQLite database file (WAL journal).

    ``durability``: ``flush`` (synchronous=NORMAL: survives a crash of the process),
    ``fsync`` (synchronous=FULL: survives power loss) or ``group`` (NORMAL, plus an
    fsync of the WAL every ``group_size`` appends or ``group_interval`` seconds).
    """

    def __init__(self, path: os.PathLike | str, durability: str = "flush", *,
                 group_size: int = 64, group_interval: float = 0.05) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.durability = check_durability(durability, "sqlite")
        self.group_size, self.group_interval = int(group_size), float(group_interval)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()
        self._lock = threading.Lock()
        self._cached: tuple[int, Optional[dict]] | None = None  # (data_version, head)
        self._unsynced, self._last_sync = 0, time.monotonic()
        self._wal_fd = -1

    def _open(self) -> sqlite3.Connection:
        """Connect, switch to WAL and create the schema.

        Two processes opening a new ledger at once race to switch it to WAL; SQLite
        answers the loser "database is locked" at once (its busy timeout does not
        cover that lock upgrade), so the setup is retried for up to a minute.
        """
        deadline = time.monotonic() + 60
        while True:
            db = None
            try:
                db = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.durability]}")
                db.executescript(SCHEMA)
                return db
            except sqlite3.OperationalError as exc:
                if db is not None:
                    db.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise LedgerError(f"cannot open ledger database {self.path}: {exc}") from None
                time.sleep(0.01)
            except sqlite3.DatabaseError as exc:
                if db is not None:
                    db.close()
                raise LedgerError(f"cannot open ledger database {self.path}: {exc}") from None

    # -- reading -----------------------------------------------------------------------

    def _data_version(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def head(self) -> Optional[dict]:
        with self._lock:
            version = self._data_version()  # changes whenever another connection commits
            if self._cached is not None and self._cached[0] == version:
                return self._cached[1]
            row = self._db.execute("SELECT seq, body FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            head = None if row is None else decode(row[1], self.location, row[0])
            self._cached = (version, head)
            return head

    def read(self, start_seq: int = 1) -> Iterator[dict]:
        for seq, body in self.read_rows(start_seq):
            yield decode(body, self.location, seq)

    def read_newest_first(self) -> Iterator[dict]:
        """Records from the last to the first (``ORDER BY seq DESC`` in batches: the last N cost N)."""
        before, batch = None, 16
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, body FROM records " + ("" if before is None else "WHERE seq < ? ") +
                    "ORDER BY seq DESC LIMIT ?", (batch,) if before is None else (before, batch)).fetchall()
            for seq, body in rows:
                yield decode(body, self.location, seq)
            if len(rows) < batch:
                return
            before, batch = rows[-1][0], min(batch * 4, _READ_BATCH)

    def read_rows(self, start_seq: int = 1) -> Iterator[tuple[int, str]]:
        """``(seq, stored text)`` pairs in order, read in batches (no lock held between them)."""
        after = start_seq - 1
        while True:
            with self._lock:
                rows = self._db.execute("SELECT seq, body FROM records WHERE seq > ? ORDER BY seq LIMIT ?",
                                        (after, _READ_BATCH)).fetchall()
            yield from rows
            if len(rows) < _READ_BATCH:
                return
            after = rows[-1][0]

    # -- appending ---------------------------------------------------------------------

    def compare_and_append(self, record: dict) -> bool:
        """One conditional INSERT (its own transaction): lands only if the head is the record's ``prev``."""
        row = (record["seq"], record["id"], record["hash"], encode(record))
        with self._lock:
            try:
                if record["seq"] == 1:
                    inserted = self._db.execute(
                        "INSERT INTO records (seq, id, hash, body) SELECT ?, ?, ?, ? "
                        "WHERE NOT EXISTS (SELECT 1 FROM records)", row).rowcount
                else:
                    inserted = self._db.execute(
                        "INSERT INTO records (seq, id, hash, body) SELECT ?, ?, ?, ? WHERE "
                        "(SELECT hash FROM records WHERE seq = ? AND seq = (SELECT max(seq) FROM records)) = ?",
                        row + (record["seq"] - 1, record["prev"])).rowcount
            except sqlite3.IntegrityError:
                inserted = 0
            except sqlite3.OperationalError as exc:
                raise LedgerError(f"ledger {self.path}: cannot append ({exc})") from None
            if inserted != 1:
                self._cached = None
                return False
            self._cached = None  # head() re-reads once; appends never need it while their guesses hold
            if self.durability == "group":
                self._group_sync(1)
            return True

    def compare_and_append_many(self, records: list[dict]) -> bool:
        """Append consecutive records in one transaction iff the first one fits on the head."""
        first = records[0]
        rows = [(r["seq"], r["id"], r["hash"], encode(r)) for r in records]
        with self._lock:
            try:
                with self._immediate():
                    top = self._db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
                    if not (first["seq"] == 1 if top is None
                            else (top[0] == first["seq"] - 1 and top[1] == first["prev"])):
                        raise _Lost()
                    self._db.executemany("INSERT INTO records (seq, id, hash, body) VALUES (?, ?, ?, ?)", rows)
            except (_Lost, sqlite3.IntegrityError):
                self._cached = None
                return False
            self._cached = (self._data_version(), records[-1])
            if self.durability == "group":
                self._group_sync(len(records))
            return True

    def append_built(self, build) -> dict:
        """Append ``build(head)`` inside one ``BEGIN IMMEDIATE`` transaction: the head cannot move meanwhile,
        so concurrent writers wait for SQLite's lock instead of losing races and retrying."""
        with self._lock:
            with self._immediate():
                top = self._db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
                record = build(None if top is None else {"seq": top[0], "hash": top[1]})
                self._db.execute("INSERT INTO records (seq, id, hash, body) VALUES (?, ?, ?, ?)",
                                 (record["seq"], record["id"], record["hash"], encode(record)))
            self._cached = (self._data_version(), record)
            if self.durability == "group":
                self._group_sync(1)
            return record

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """One write transaction taken up front (``BEGIN IMMEDIATE``), rolled back on any exception."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise LedgerError(f"ledger {self.path}: cannot lock the database ({exc})") from None
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _group_sync(self, appended: int) -> None:
        """fsync the WAL once per group of appends: one disk flush pays for many records."""
        self._unsynced += appended
        now = time.monotonic()
        if self._unsynced < self.group_size and now - self._last_sync < self.group_interval:
            return
        if self._wal_fd < 0:
            self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        os.fsync(self._wal_fd)
        self._unsynced, self._last_sync = 0, now

    def flush(self) -> None:
        """Force every appended record to disk now (the end of a group)."""
        with self._lock:
            if self._wal_fd >= 0 or os.path.exists(f"{self.path}-wal"):
                if self._wal_fd < 0:
                    self._wal_fd = os.open(f"{self.path}-wal", os.O_RDONLY)
                os.fsync(self._wal_fd)
            self._unsynced = 0

    # -- repair --------------------------------------------------------------------------

    def repair(self) -> dict:
        """Set aside damaged rows at the end of the ledger into the ``quarantine`` table.

        SQLite transactions never leave a torn row, so this only finds damage done
        from outside. Rows are moved, never deleted; damage before the last good
        row is reported and nothing is changed.
        """
        with self._lock:
            problems = self._db.execute("PRAGMA integrity_check").fetchall()
            if problems != [("ok",)]:
                raise LedgerCorruptError(f"{self.path}: SQLite integrity check failed: {problems[0][0]}")
            rows = self._db.execute("SELECT seq, body FROM records ORDER BY seq").fetchall()
        bad_from = None
        for index, (seq, body) in enumerate(rows):
            try:
                record = decode(body, self.location, seq)
                damaged = record.get("seq") != seq
            except LedgerCorruptError:
                damaged = True
            if damaged and bad_from is None:
                bad_from = index
            elif not damaged and bad_from is not None:
                raise LedgerCorruptError(f"{self.path}: row seq {rows[bad_from][0]} is damaged but not at the end; "
                                         "repair only sets aside a damaged tail, so nothing was changed")
        if bad_from is None:
            return {"removed_bytes": 0, "kept_records": len(rows), "saved_to": None}
        moved = rows[bad_from:]
        stamp = datetime.now(timezone.utc).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO quarantine VALUES (?, ?, 'damaged tail', ?)",
                                 [(seq, body, stamp) for seq, body in moved])
            self._db.execute("DELETE FROM records WHERE seq >= ?", (moved[0][0],))
            self._db.execute("COMMIT")
            self._cached = None
        return {"removed_bytes": sum(len(str(body).encode()) for _, body in moved), "kept_records": bad_from,
                "removed_records": len(moved), "saved_to": f"{self.path} table quarantine"}

    def close(self) -> None:
        if self._wal_fd >= 0:
            os.close(self._wal_fd)
            self._wal_fd = -1
        self._db.close()


class _Lost(Exception):
    """The head moved: the records do not fit on it."""
