"""Reducers: how ``ledger replay`` rebuilds state by folding records, one at a time."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from pxos_kernel import LedgerError, PluginError


@dataclass(frozen=True)
class Reducer:
    """``fold(state, record) -> state`` starting from ``initial``; ``types`` limits the records it sees."""

    name: str
    fold: Callable[[Any, dict], Any]
    initial: Any = None
    summary: str = ""
    types: Optional[tuple[str, ...]] = None


def collect(kernel) -> dict[str, Reducer]:
    """Every reducer registered through ``pxos_ledger_reducers``, by name; refuses duplicates."""
    found: dict[str, Reducer] = {}
    hook = getattr(kernel.hook, "pxos_ledger_reducers", None)
    if hook is None:
        return found
    for answer in hook():
        for reducer in answer if isinstance(answer, (list, tuple)) else [answer]:
            if not isinstance(reducer, Reducer):
                raise PluginError(f"pxos_ledger_reducers returned {reducer!r}, not a Reducer")
            if reducer.name in found:
                raise PluginError(f"two ledger reducers are named {reducer.name!r}")
            found[reducer.name] = reducer
    return found


def replay(records: Iterable[dict], reducers: dict[str, Reducer], to_atom: Optional[str] = None) -> dict:
    """Fold ``records`` (stopping after ``to_atom``) through every reducer.

    Returns ``{"state": {name: state}, "records": n, "last": id or None}``; raises
    LedgerError when ``to_atom`` never appears (nothing is half-applied silently).
    """
    state = {name: copy.deepcopy(r.initial) for name, r in reducers.items()}
    count, last = 0, None
    for record in records:
        for name, reducer in reducers.items():
            if reducer.types is None or record.get("type") in reducer.types:
                state[name] = reducer.fold(state[name], record)
        count, last = count + 1, record.get("id")
        if to_atom is not None and last == to_atom:
            break
    else:
        if to_atom is not None:
            raise LedgerError(f"replay: no record {to_atom} in the ledger")
    return {"state": state, "records": count, "last": last}


# -- the reducers this plugin brings ------------------------------------------------------


def _counts(state: dict, record: dict) -> dict:
    by_type = dict(state["by_type"])
    by_type[record["type"]] = by_type.get(record["type"], 0) + 1
    by_agent = dict(state["by_agent"])
    by_agent[record["agent"]] = by_agent.get(record["agent"], 0) + 1
    return {"by_type": by_type, "by_agent": by_agent}


def _corridors(state: dict, record: dict) -> dict:
    """The last record seen at each corridor: where every part of the system last was."""
    return {**state, record["corridor"]: {"id": record["id"], "op": record["op"]}}


def _snapshots(state: dict, record: dict) -> dict:
    payload = record.get("payload") or {}
    source = payload.get("source")
    if not source:
        return state
    return {**state, source: {"id": record["id"], "type": payload.get("snapshot_type"),
                              "manifest_sha256": payload.get("manifest_sha256")}}


def _state(state: dict, record: dict) -> dict:
    """STATE records carry ``{"set": {...}, "unset": [...]}``: a key-value state built up over time."""
    payload = record.get("payload") or {}
    new = {**state, **(payload.get("set") or {})}
    for key in payload.get("unset") or []:
        new.pop(key, None)
    return new


def builtin_reducers() -> list[Reducer]:
    return [
        Reducer("counts", _counts, {"by_type": {}, "by_agent": {}}, "records per type and per agent"),
        Reducer("corridors", _corridors, {}, "the last record at each corridor"),
        Reducer("snapshots", _snapshots, {}, "the latest snapshot of each source", types=("SNAPSHOT",)),
        Reducer("state", _state, {}, "key-value state from STATE records' set/unset", types=("STATE",)),
    ]
