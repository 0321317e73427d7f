"""The built-in ledger sink: one JSON record a line, in a file, under an exclusive lock.

Stdlib only, so a bare kernel logs every execution. Appends take ``flock`` on
the file, re-check the head, and write the line with one ``write`` call on an
``O_APPEND`` descriptor; a crash can leave at most one torn last line, which
:meth:`JsonlSink.read` reports and :meth:`JsonlSink.repair` sets aside.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from pxos_kernel.canonical import canonical_json
from pxos_kernel.errors import ConfigError, LedgerCorruptError, LedgerError
from pxos_kernel.ledger import iter_json_records

DURABILITY = ("flush", "fsync")
_TAIL_CHUNK = 1 << 16


class JsonlSink:
    """A JSONL ledger file. ``durability``: ``flush`` (survives a process crash) or ``fsync`` (survives power loss)."""

    def __init__(self, path: os.PathLike | str, durability: str = "flush") -> None:
        if durability not in DURABILITY:
            raise ConfigError(f"ledger durability {durability!r} is not one of {', '.join(DURABILITY)} for the jsonl sink")
        self.path = Path(path)
        self.location = str(self.path)
        self.durability = durability
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"cannot open ledger {self.path}: {exc.strerror}") from None
        self._cached_size = -1
        self._cached_head: Optional[dict] = None

    @contextmanager
    def _locked(self, mode: int):
        fcntl.flock(self._fd, mode)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _tail(self) -> Optional[dict]:
        """The last record, read backwards from the end; the caller holds a lock."""
        size = os.fstat(self._fd).st_size
        if size == self._cached_size:
            return self._cached_head
        head = None
        if size:
            data, start = b"", size
            while True:
                step = min(_TAIL_CHUNK, start)
                start -= step
                data = os.pread(self._fd, step, start) + data
                cut = data.rfind(b"\n", 0, len(data) - 1)
                if cut >= 0 or start == 0:
                    break
            line = data[cut + 1:]
            line_no_hint = f"byte {start + cut + 1}"
            if not line.endswith(b"\n"):
                raise LedgerCorruptError(
                    f"{self.path} ({line_no_hint}): torn last record, {len(line)} bytes without a newline; "
                    "run 'pxos-kernel ledger repair' to set it aside"
                )
            try:
                head = json.loads(line)
            except ValueError as exc:
                raise LedgerCorruptError(f"{self.path} ({line_no_hint}): last record is not JSON ({exc})") from None
        self._cached_size, self._cached_head = size, head
        return head

    def head(self) -> Optional[dict]:
        with self._locked(fcntl.LOCK_SH):
            return self._tail()

    def compare_and_append(self, record: dict) -> bool:
        line = ((getattr(record, "canonical", None) or canonical_json(record)) + "\n").encode("utf-8")
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # (not the _locked() helper: this is the hot path)
        try:
            # The file's size tells whether another process appended since this one did.
            head = self._cached_head if os.fstat(self._fd).st_size == self._cached_size else self._tail()
            if head is None:
                if record["seq"] != 1:
                    return False
            elif head.get("seq") != record["seq"] - 1 or head.get("hash") != record["prev"]:
                return False
            written = os.write(self._fd, line)
            if written != len(line):  # disk full: do not leave half a record behind
                os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
                raise LedgerError(f"ledger {self.path}: short write ({written} of {len(line)} bytes)")
            if self.durability == "fsync":
                os.fdatasync(self._fd)
            self._cached_size += len(line)
            self._cached_head = record
            return True
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def read(self, start_seq: int = 1) -> Iterator[dict]:
        with open(self.path, "rb") as stream:
            for record in iter_json_records(stream, str(self.path)):
                if not isinstance(record.get("seq"), int) or record["seq"] >= start_seq:
                    yield record

    def read_newest_first(self) -> Iterator[dict]:
        """Records from the last to the first, read backwards from the end of the file in blocks.

        Taking the last N records costs time proportional to N, not to the size of the ledger.
        """
        position = os.fstat(self._fd).st_size
        carry, last_block = b"", True  # carry: the end of a line that began in an earlier block
        while position > 0:
            start = max(0, position - _TAIL_CHUNK)
            data = os.pread(self._fd, position - start, start) + carry
            if last_block:
                if not data.endswith(b"\n"):
                    torn = data.rsplit(b"\n", 1)[-1]
                    raise LedgerCorruptError(
                        f"{self.path} (byte {position - len(torn)}): torn last record, {len(torn)} bytes without a "
                        "newline; run 'pxos-kernel ledger repair' to set it aside")
                data, last_block = data[:-1], False
            lines = data.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            for line in reversed(lines):
                yield self._parse_line(line, start)
            position = start

    def _parse_line(self, line: bytes, after: int) -> dict:
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise LedgerCorruptError(f"{self.path} (after byte {after}): a record is not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise LedgerCorruptError(f"{self.path} (after byte {after}): a record is not a JSON object")
        return record

    def read_rows(self, start_seq: int = 1) -> Iterator[tuple[str, str]]:
        """``(where, stored text)`` per record, so verify can hash the stored bytes without re-encoding."""
        with open(self.path, "rb") as stream:
            offset = 0
            for number, line in enumerate(stream, start=1):
                where = f"line {number} (byte {offset})"
                if not line.endswith(b"\n"):
                    raise LedgerCorruptError(
                        f"{self.path} {where}: torn record, {len(line)} bytes without a newline (a writer crashed "
                        "mid-append); run 'pxos-kernel ledger repair' to set it aside")
                offset += len(line)
                if start_seq > 1:
                    try:
                        if json.loads(line).get("seq", start_seq) < start_seq:
                            continue
                    except (ValueError, AttributeError):
                        pass  # let verify report it
                    start_seq = 1
                yield where, line[:-1].decode("utf-8", "replace")

    def repair(self) -> dict:
        """Move a torn or unparsable tail into a ``.torn-<time>`` file next to the ledger.

        Only the damage after the last good line is touched; it is kept, never deleted.
        Returns what was moved: ``{"removed_bytes", "kept_records", "saved_to"}``.
        """
        with self._locked(fcntl.LOCK_EX):
            good_end, kept = 0, 0
            with open(self.path, "rb") as stream:
                for line in stream:
                    if not line.endswith(b"\n"):
                        break
                    try:
                        if not isinstance(json.loads(line), dict):
                            break
                    except ValueError:
                        break
                    good_end += len(line)
                    kept += 1
            size = os.fstat(self._fd).st_size
            if good_end == size:
                return {"removed_bytes": 0, "kept_records": kept, "saved_to": None}
            damaged = os.pread(self._fd, size - good_end, good_end)
            if b"\n" in damaged[:-1]:
                raise LedgerCorruptError(
                    f"{self.path}: record {kept + 1} (byte {good_end}) is damaged but not the last one; "
                    "repair only sets aside a torn tail, so nothing was changed"
                )
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            saved = self.path.with_name(f"{self.path.name}.torn-{stamp}")
            saved.write_bytes(damaged)
            os.ftruncate(self._fd, good_end)
            self._cached_size = -1
            return {"removed_bytes": size - good_end, "kept_records": kept, "saved_to": str(saved)}

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
