"""Opening the plugin's SQLite files: durable, shared by many processes, never wiped.

A file that SQLite cannot read is refused with a one-line error naming it; it
is never deleted or recreated, so a damaged queue or memory can still be
rescued by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pxos_kernel import FormatError

BUSY_TIMEOUT_S = 30.0


def open_database(path: Path, what: str, schema: str) -> sqlite3.Connection:
    """Open (creating if absent) the SQLite file at ``path`` and ensure ``schema`` exists.

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
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript(schema)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise FormatError(f"{what} {path}: damaged or not an SQLite database ({exc}); refusing to use "
                          "or replace it: move it aside to start afresh") from None
    return connection
