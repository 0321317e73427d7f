"""Shared look-ups of cartridge history: registry records, lineage, ledger records of evolution."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

from pxos_genesis.subject import Candidate, memo, registry

EVOLVE_TYPES = ("PROPOSAL", "EVOLVE")


def names_in_scope(candidate: Optional[Candidate], context: Mapping[str, Any]) -> list[str]:
    """The cartridge being judged, or every registered cartridge when judging the world."""
    if candidate is not None:
        return [candidate.name]
    return sorted({r["name"] for r in registry(context["kernel"]).list()})


def versions(name: str, context: Mapping[str, Any]) -> list[dict]:
    """Every registered version of ``name`` (empty for a cartridge never registered)."""
    return [r for r in registry(context["kernel"]).list(name)]


def lineage(candidate: Candidate, context: Mapping[str, Any]) -> list[dict]:
    """Root first, the candidate's parent last (the candidate itself when registered)."""
    reg = registry(context["kernel"])
    if candidate.record is not None:
        return reg.lineage(candidate.name, candidate.version)
    parent = candidate.planned.get("parent")
    return reg.lineage(candidate.name, parent) if parent else []


def history(name: str, context: Mapping[str, Any]) -> list[dict]:
    return registry(context["kernel"]).history(name)


def ledger_verified(context: Mapping[str, Any]) -> Any:
    """The ledger's verify report, computed once per genesis report."""
    cache = memo(context, "ledger")
    if cache is not None and "verify" in cache:
        return cache["verify"]
    report = context["kernel"].ledger.verify()
    if cache is not None:
        cache["verify"] = report
    return report


def evolution_records(context: Mapping[str, Any]) -> list[dict]:
    """Every proposal and build record of the evolution pipeline in the ledger (read once per report)."""
    cache = memo(context, "ledger")
    if cache is not None and "evolution" in cache:
        return cache["evolution"]
    found = [r for r in context["kernel"].ledger.records() if r.get("type") in EVOLVE_TYPES]
    if cache is not None:
        cache["evolution"] = found
    return found


def build_record(name: str, version: str, context: Mapping[str, Any]) -> Optional[dict]:
    """The evolution pipeline's build record of ``name@version``, if the pipeline built it."""
    for record in evolution_records(context):
        p = record.get("payload") or {}
        if record.get("type") == "EVOLVE" and p.get("cartridge") == name and p.get("version") == version \
                and p.get("registered"):
            return record
    return None


def proposal_record(atom: str, context: Mapping[str, Any]) -> Optional[dict]:
    for record in evolution_records(context):
        if record.get("id") == atom and record.get("type") == "PROPOSAL":
            return record
    return None


def done(entries: list[dict], *actions: str) -> Iterator[dict]:
    """History entries of ``actions`` that happened (refused attempts excluded)."""
    for entry in entries:
        if entry.get("action") in actions and entry.get("outcome") == "done":
            yield entry
