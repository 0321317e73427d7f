"""Opening the plugin's SQLite files: durable, shared by many processes, never wiped.

A file that SQLite cannot read is refused with a one-line error naming it; it
is never deleted or recreated, so a damaged queue or memory can still be
rescued by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional

from pxos_kernel import FormatError

BUSY_TIMEOUT_S = 30.0


def open_database(path: Path, what: str, schema: str, *, expect: Optional[dict[str, set[str]]] = None,
                  kind: str = "") -> sqlite3.Connection:
    """Open (creating if absent) the SQLite file at ``path`` and ensure ``schema`` exists.

    With ``expect`` (table name to its columns), a database that already holds
    other tables, or these tables with other columns, is refused as not a
    ``kind`` (say, a pxOS task queue): the schema is never added to someone
    else's database.

    ``isolation_level=None`` leaves transactions to the caller (``BEGIN
    IMMEDIATE`` where a read decides a write), WAL lets readers and one writer
    work at once, and the busy timeout makes concurrent writers wait instead
    of failing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
    except sqlite3.Error as exc:
        raise FormatError(f"{what} {path}: cannot open it ({exc})") from None
    try:
        connection.row_factory = sqlite3.Row
        check = connection.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(check)
        if expect is not None:
            problem = foreign_tables(connection, expect)
            if problem:
                connection.close()
                raise FormatError(f"{what} {path}: not a {kind or what} ({problem}); refusing to use or change it")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(schema)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise FormatError(f"{what} {path}: damaged or not an SQLite database ({exc}); refusing to use "
                          "or replace it: move it aside to start afresh") from None
    return connection


def foreign_tables(connection: sqlite3.Connection, expect: dict[str, set[str]]) -> str:
    """Why the tables already in an SQLite database are not the ``expect``-ed ones (see :func:`describe_foreign`)."""
    columns: dict[str, set[str]] = {}
    for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
        columns[table] = {r[1] for r in connection.execute(f"PRAGMA table_info({table})")}
    return describe_foreign(columns, expect)


def describe_foreign(columns: dict[str, set[str]], expect: dict[str, set[str]]) -> str:
    """Why tables found (name to columns) are not the ``expect``-ed ones: "" when they are, or when there are none."""
    others = sorted(set(columns) - set(expect))
    if others:
        return f"it has table(s) {', '.join(others)}"
    for table, found in columns.items():
        if found != expect[table]:
            missing, extra = sorted(expect[table] - found), sorted(found - expect[table])
            parts = [f"no column(s) {', '.join(missing)}" if missing else "",
                     f"other column(s) {', '.join(extra)}" if extra else ""]
            return f"its table {table} has " + "; ".join(filter(None, parts))
    return ""
