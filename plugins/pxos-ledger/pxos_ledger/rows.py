"""What the SQL sinks share: how a record becomes a row and back, and the durability levels."""

from __future__ import annotations

import json

from pxos_kernel import ConfigError, LedgerCorruptError, canonical_json

#: ``flush``: an append that returned survives a crash of the writing process.
#: ``fsync``: ... and a power loss (the data is on disk before the append returns).
#: ``group``: like ``flush``, and the sink forces the data to disk for a whole group of
#: appends at once (every ``group_size`` records or ``group_interval`` seconds).
DURABILITY = ("flush", "fsync", "group")


def check_durability(value: str, sink: str) -> str:
    if value not in DURABILITY:
        raise ConfigError(f"ledger durability {value!r} is not one of {', '.join(DURABILITY)} for the {sink} sink")
    return value


def encode(record: dict) -> str:
    """The stored text of a record: its canonical JSON, exactly what was hashed (plus ``hash``).

    Records the kernel built carry that text already (``record.canonical``).
    """
    return getattr(record, "canonical", None) or canonical_json(record)


def decode(body: str, location: str, seq: object) -> dict:
    """Parse one stored row, naming the row when it is damaged."""
    try:
        record = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise LedgerCorruptError(f"{location} row seq {seq}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise LedgerCorruptError(f"{location} row seq {seq}: not a JSON object")
    return record
