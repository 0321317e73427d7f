"""Filtering ledger records: by agent, type, corridor prefix, op, time, ATOM id and payload field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Optional

from pxos_kernel import ATOM_ID, LedgerError, NotFoundError

CORRIDOR_PREFIX = re.compile(r"^DISTRICT_\d+(\.CHAMBER_[A-Za-z0-9]+(\.NODE_[A-Za-z0-9_]+)?)?$")
_MISSING = object()


def parse_time(text: str) -> str:
    """An ISO 8601 time (date, or date and time; UTC unless it says otherwise) as the ledger writes it."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LedgerError(f"time {text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-21T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_where(text: str) -> tuple[list[str], Any]:
    """``field.path=value``: the value is JSON when it parses as JSON, else a string."""
    path, sep, raw = text.partition("=")
    if not sep or not path:
        raise LedgerError(f"payload filter {text!r} must look like FIELD=VALUE (e.g. status=ok or run.code=0)")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path.split("."), value


@dataclass
class Filter:
    """Which records to keep. Every given criterion must hold."""

    agent: Optional[str] = None
    types: tuple[str, ...] = ()
    corridor: Optional[str] = None
    op: Optional[str] = None
    since: Optional[str] = None
    until: Optional[str] = None
    atom: Optional[str] = None
    where: list[tuple[list[str], Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.corridor is not None and not CORRIDOR_PREFIX.match(self.corridor):
            raise LedgerError(f"corridor prefix {self.corridor!r} does not follow DISTRICT_<n>[.CHAMBER_<name>"
                              "[.NODE_<name>]]")
        if self.atom is not None and not ATOM_ID.match(self.atom):
            raise NotFoundError(f"{self.atom!r} is not an ATOM id (ATOM-<TYPE>-<YYYYMMDD>-<seq>)")
        self.since = parse_time(self.since) if self.since else None
        self.until = parse_time(self.until) if self.until else None

    @property
    def start_seq(self) -> int:
        """Where reading can start: an ATOM id names its sequence number."""
        match = ATOM_ID.match(self.atom) if self.atom else None
        return int(match.group(3)) if match else 1

    def matches(self, record: dict) -> bool:
        if self.atom is not None and record.get("id") != self.atom:
            return False
        if self.agent is not None and record.get("agent") != self.agent:
            return False
        if self.types and record.get("type") not in self.types:
            return False
        if self.op is not None and record.get("op") != self.op:
            return False
        if self.corridor is not None:
            corridor = record.get("corridor", "")
            if corridor != self.corridor and not corridor.startswith(self.corridor + "."):
                return False
        ts = record.get("ts", "")
        if (self.since and ts < self.since) or (self.until and ts > self.until):
            return False
        return all(_lookup(record.get("payload"), path) == value for path, value in self.where)

    def apply(self, records: Iterable[dict]) -> Iterator[dict]:
        found = False
        for record in records:
            if self.matches(record):
                found = True
                yield record
                if self.atom is not None:
                    return
            elif self.atom is not None and isinstance(record.get("seq"), int) and record["seq"] > self.start_seq:
                break
        if self.atom is not None and not found:
            raise NotFoundError(f"no record {self.atom} in the ledger")


def _lookup(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value
