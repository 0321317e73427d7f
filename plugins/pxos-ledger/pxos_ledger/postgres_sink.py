"""The ``postgres`` checkpoint sink: one table in a PostgreSQL database, for many machines.

An append is a compare-and-append inside one transaction: read the head, compare
it with the new record's ``seq``/``prev``, and insert with ``ON CONFLICT (seq)
DO NOTHING``. Because ``seq`` is the primary key, of two writers that read the
same head only one insert lands; the other sees no row inserted, returns
``False``, and the kernel rebuilds its record on the new head.
"""

from __future__ import annotations

import re
import threading
from typing import Iterator, Optional

from pxos_kernel import ConfigError, LedgerCorruptError, LedgerError
from pxos_ledger.rows import check_durability, decode, encode

_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: flush: the commit returns once the WAL record is written, before it is flushed
#: (survives a crash of the writer; a server crash may lose the last ~0.6 s).
#: fsync: the commit returns after the server flushed its WAL to disk.
#: group: like fsync, and the chain's lock is not held while the WAL is flushed: the record
#: commits asynchronously under the lock, then the writer waits for a synchronous flush
#: that covers it, which concurrent writers share (the server's group commit; tune it
#: with commit_delay / commit_siblings).
_SYNCHRONOUS_COMMIT = {"flush": "off", "fsync": "on", "group": "off"}
_READ_BATCH = 5000


class PostgresSink:
    """A ledger in table ``table`` of the PostgreSQL database at ``dsn``."""

    def __init__(self, dsn: str, table: str = "pxos_ledger", durability: str = "fsync") -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError("the postgres ledger sink needs psycopg 3: pip install 'pxos-ledger[postgres]'") from None
        if not _TABLE.match(table or ""):
            raise ConfigError(f"ledger table name {table!r} must be lower-case letters, digits and '_'")
        self.table = table
        self.durability = check_durability(durability, "postgres")
        self._psycopg = psycopg
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise LedgerError(f"cannot connect to the ledger database: {str(exc).strip().splitlines()[0]}") from None
        info = self._db.info
        self.location = f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname} table {table}"
        self._lock = threading.Lock()
        with self._db.cursor() as cur:
            cur.execute(f"SET synchronous_commit = {_SYNCHRONOUS_COMMIT[self.durability]}")
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"pxos-ledger-schema:{table}",))
            try:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (seq BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
                            "hash TEXT NOT NULL, body TEXT NOT NULL)")
                cur.execute(f"CREATE TABLE IF NOT EXISTS {table}_quarantine (seq BIGINT, body TEXT, reason TEXT, "
                            "moved_at TIMESTAMPTZ DEFAULT now())")
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"pxos-ledger-schema:{table}",))

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self._lock, self._db.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except self._psycopg.OperationalError as exc:
            raise LedgerError(f"ledger {self.location}: {str(exc).strip().splitlines()[0]}") from None

    def head(self) -> Optional[dict]:
        rows = self._query(f"SELECT seq, body FROM {self.table} ORDER BY seq DESC LIMIT 1")
        return decode(rows[0][1], self.location, rows[0][0]) if rows else None

    def read(self, start_seq: int = 1) -> Iterator[dict]:
        for seq, body in self.read_rows(start_seq):
            yield decode(body, self.location, seq)

    def read_newest_first(self) -> Iterator[dict]:
        """Records from the last to the first (``ORDER BY seq DESC`` in batches: the last N cost N)."""
        before, batch = None, 16
        while True:
            where = "" if before is None else "WHERE seq < %s "
            rows = self._query(f"SELECT seq, body FROM {self.table} {where}ORDER BY seq DESC LIMIT %s",
                               (batch,) if before is None else (before, batch))
            for seq, body in rows:
                yield decode(body, self.location, seq)
            if len(rows) < batch:
                return
            before, batch = rows[-1][0], min(batch * 4, _READ_BATCH)

    def read_rows(self, start_seq: int = 1) -> Iterator[tuple[int, str]]:
        after = start_seq - 1
        while True:
            rows = self._query(f"SELECT seq, body FROM {self.table} WHERE seq > %s ORDER BY seq LIMIT %s",
                               (after, _READ_BATCH))
            yield from rows
            if len(rows) < _READ_BATCH:
                return
            after = rows[-1][0]

    def compare_and_append(self, record: dict) -> bool:
        return self.compare_and_append_many([record])

    build_under_lock = True  # one round trip fewer than a guess that may lose, and group commit needs it

    def append_built(self, build) -> dict:
        """Append ``build(head)`` while holding the chain: writers queue on a lock instead of losing races.

        ``head`` is ``{"seq", "hash"}`` of the last record (None when empty). The lock is a
        transaction-level advisory lock on the table, so it is released by the commit; with
        durability ``group`` the WAL flush happens after that, shared with other writers.
        """
        try:
            with self._lock:
                with self._db.transaction(), self._db.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pxos-ledger-chain:{self.table}",))
                    cur.execute(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1")
                    top = cur.fetchone()
                    record = build(None if top is None else {"seq": top[0], "hash": top[1]})
                    cur.execute(f"INSERT INTO {self.table} (seq, id, hash, body) VALUES (%s, %s, %s, %s)",
                                (record["seq"], record["id"], record["hash"], encode(record)))
                if self.durability == "group":
                    self._flush_wal()
            return record
        except self._psycopg.OperationalError as exc:
            raise LedgerError(f"ledger {self.location}: {str(exc).strip().splitlines()[0]}") from None

    def _flush_wal(self) -> None:
        """Wait until the WAL is on disk up to here: a tiny synchronous commit flushes every earlier record."""
        with self._db.transaction(), self._db.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = on")
            cur.execute("SELECT pg_current_xact_id()")  # an xid, so the commit writes (and flushes) a record

    def compare_and_append_many(self, records: list[dict]) -> bool:
        """Insert consecutive records in one transaction iff the first fits on the head."""
        first = records[0]
        rows = [(r["seq"], r["id"], r["hash"], encode(r)) for r in records]
        psycopg = self._psycopg
        try:
            with self._lock, self._db.transaction(), self._db.cursor() as cur:
                cur.execute(f"SELECT seq, hash FROM {self.table} ORDER BY seq DESC LIMIT 1")
                top = cur.fetchone()
                fits = first["seq"] == 1 if top is None else (top[0] == first["seq"] - 1 and top[1] == first["prev"])
                if not fits:
                    return False
                for row in rows:
                    cur.execute(f"INSERT INTO {self.table} (seq, id, hash, body) VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT (seq) DO NOTHING", row)
                    if cur.rowcount != 1:
                        raise _Lost()
            return True
        except _Lost:
            return False  # the transaction was rolled back: none of the records landed
        except psycopg.errors.UniqueViolation:
            return False
        except psycopg.OperationalError as exc:
            raise LedgerError(f"ledger {self.location}: {str(exc).strip().splitlines()[0]}") from None

    def repair(self) -> dict:
        """Set aside damaged rows at the end into ``<table>_quarantine`` (moved, never deleted)."""
        rows = self._query(f"SELECT seq, body FROM {self.table} ORDER BY seq")
        bad_from = None
        for index, (seq, body) in enumerate(rows):
            try:
                damaged = decode(body, self.location, seq).get("seq") != seq
            except LedgerCorruptError:
                damaged = True
            if damaged and bad_from is None:
                bad_from = index
            elif not damaged and bad_from is not None:
                raise LedgerCorruptError(f"{self.location}: row seq {rows[bad_from][0]} is damaged but not at the "
                                         "end; repair only sets aside a damaged tail, so nothing was changed")
        if bad_from is None:
            return {"removed_bytes": 0, "kept_records": len(rows), "saved_to": None}
        first = rows[bad_from][0]
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            cur.execute(f"INSERT INTO {self.table}_quarantine (seq, body, reason) "
                        f"SELECT seq, body, 'damaged tail' FROM {self.table} WHERE seq >= %s", (first,))
            cur.execute(f"DELETE FROM {self.table} WHERE seq >= %s", (first,))
        moved = rows[bad_from:]
        return {"removed_bytes": sum(len(str(b).encode()) for _, b in moved), "kept_records": bad_from,
                "removed_records": len(moved), "saved_to": f"{self.location}_quarantine"}

    def close(self) -> None:
        self._db.close()


class _Lost(Exception):
    """Another writer took one of our sequence numbers inside our transaction."""
