"""The story of evolution as the ledger tells it: proposals, the builds made of them, and their outcomes.

Read in one pass over the ledger. A proposal whose record is corrupt is
listed as such, with the reason, instead of breaking the listing. A build
that started but wrote no outcome is ``running`` while its process still
holds its workspace, else ``unfinished`` (killed without a chance to record
anything; its workspace is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from pxos_genesis.evolve.proposals import CorruptProposal, ProposalRecord
from pxos_genesis.evolve.workspace import Workspace


@dataclass
class ProposalEntry:
    id: str
    ts: str
    proposal: Optional[ProposalRecord]
    corrupt: str = ""
    builds: list = field(default_factory=list)

    def as_dict(self, *, patch: bool = True) -> dict:
        p = self.proposal
        data: dict[str, Any] = {"id": self.id, "ts": self.ts, "corrupt": self.corrupt or None,
                                "builds": [b["build"] for b in self.builds]}
        if p is not None:
            data.update(cartridge=p.cartridge, parent=p.parent, goal=p.goal, builder=dict(p.builder),
                        reasoning=p.reasoning, files=list(p.files), source=dict(p.source), text=p.text)
            if patch:
                data["patch"] = p.patch
        return data


@dataclass
class Evolution:
    """Every proposal, in ledger order, each with its builds (newest last)."""

    proposals: dict[str, ProposalEntry] = field(default_factory=dict)
    builds: dict[str, dict] = field(default_factory=dict)  # build id -> build summary

    def builds_of(self, cartridge: str, version: str) -> list[dict]:
        return [b for b in self.builds.values() if b["cartridge"] == cartridge and b.get("version") == version]


def read_evolution(kernel: Any) -> Evolution:
    """Proposals and builds from the ledger, with each registered build's status in the registry now."""
    from pxos_genesis.subject import registry

    story = Evolution()
    for record in kernel.ledger.records():
        kind, op = record.get("type"), record.get("op")
        if kind == "PROPOSAL" and op == "evolve_propose":
            try:
                entry = ProposalEntry(record["id"], record.get("ts", ""), ProposalRecord.from_record(record))
            except CorruptProposal as exc:
                entry = ProposalEntry(record["id"], record.get("ts", ""), None, corrupt=str(exc))
            story.proposals[record["id"]] = entry
        elif kind == "EVOLVE" and op in ("evolve_start", "evolve_build"):
            p = record.get("payload") or {}
            build_id = str(p.get("build") or record["id"])
            summary = story.builds.setdefault(build_id, {"build": build_id, "status": "running"})
            if op == "evolve_start":
                summary.update(start=record["id"], started=record.get("ts"), proposal=p.get("proposal"),
                               cartridge=p.get("cartridge"), parent=p.get("parent"), workspace=p.get("workspace"))
            else:
                summary.update({k: p.get(k) for k in ("proposal", "cartridge", "parent", "version", "status",
                                                      "stage", "reason", "registered", "sha256", "workspace",
                                                      "kept", "builder", "changes", "breaking", "tests",
                                                      "guardrails")})
                summary.update(record=record["id"], finished=record.get("ts"))
            owner = story.proposals.get(str(summary.get("proposal")))
            if owner is not None and summary not in owner.builds:
                owner.builds.append(summary)
    reg = registry(kernel)
    for summary in story.builds.values():
        if summary["status"] == "running" and not Workspace.running(kernel, summary["build"]):
            summary["status"] = "unfinished"
            summary["reason"] = (f"the build process ended without recording an outcome (killed?); its workspace "
                                 f"is kept at {summary.get('workspace')}")
        if summary.get("registered"):
            try:
                summary["registry_status"] = reg.get(summary["cartridge"], summary["version"])["status"]
            except Exception:  # a registry that cannot be read is `cartridge list`'s error to report
                summary["registry_status"] = "unknown"
    return story


def find_build(story: Evolution, ref: str) -> Optional[dict]:
    """The build named by its build id, its ledger record, or ``NAME@VERSION``."""
    for summary in story.builds.values():
        if ref in (summary["build"], summary.get("record"), summary.get("start")):
            return summary
        if "@" in ref and ref == f"{summary.get('cartridge')}@{summary.get('version')}":
            return summary
    return None
