"""Genesis §3 (no silent deletion), §7 (transparent evolution) and §10.4 (LLM reasoning kept).

Judged from the cartridge registry (records, lineage, history of every
attempt) and the ledger (its hash chain, and the evolution pipeline's proposal
and build records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from pxos_kernel import file_sha256

from pxos_genesis.checks import check, judge, plural

from pxos_genesis.checks.history import (build_record, done, history, ledger_verified, lineage,
                                         names_in_scope, proposal_record, versions)
from pxos_genesis.subject import Candidate, registry

PROVENANCE = ("version", "parent", "builder", "created", "notes")


@check("versions_preserved", cartridge=False)
def versions_preserved(candidate: Optional[Candidate], context: Mapping[str, Any]) -> Any:
    reg = registry(context["kernel"])
    problems, count = [], 0
    for name in names_in_scope(candidate, context):
        for record in versions(name, context):
            count += 1
            label = f"{name}@{record['version']}"
            path = Path(reg.archive_path(name, record["version"]))
            if not path.is_file():
                problems.append((f"its archive {path} is gone", label))
            elif file_sha256(path) != record.get("sha256"):
                problems.append(("its archive no longer matches the recorded sha256", label))
    return judge(problems, f"{plural(count, 'registered version')} checked: each archive file is still stored and "
                 "matches the sha256 recorded at registration")


@check("history_queryable", record=True)
def history_queryable(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    chain = lineage(candidate, context)
    entries = chain + ([] if candidate.record is not None else [{"version": candidate.version, **candidate.planned}])
    problems = []
    for entry in entries:
        label = f"{candidate.name}@{entry.get('version')}"
        builder = entry.get("builder") or {}
        if not builder.get("who"):
            problems.append(("who built it is not recorded", label))
        being_built = candidate.record is None and entry is entries[-1]
        if not entry.get("created") and not being_built:
            problems.append(("when it was built is not recorded", label))
        if not str(entry.get("notes") or "").strip():
            problems.append(("why it was built (notes) is not recorded", label))
    return judge(problems, f"lineage of {candidate.label} queried from the registry: {plural(len(entries), 'version')},"
                 " each with who built it, when and why")


@check("ancestors_restorable", record=True)
def ancestors_restorable(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    from pxos_cartridge.archive import open_archive

    reg = registry(context["kernel"])
    chain = [r for r in lineage(candidate, context) if r["version"] != candidate.version]
    problems = []
    for record in chain:
        label = f"{candidate.name}@{record['version']}"
        try:
            archive = open_archive(reg.archive_path(candidate.name, record["version"]))
        except Exception as exc:
            problems.append((f"cannot be restored: {exc}", label))
            continue
        if archive.sha256 != record.get("sha256"):
            problems.append(("its archive differs from the one registered", label))
    return judge(problems, f"{plural(len(chain), 'ancestor')} of {candidate.label} opened and verified member by "
                 "member, so a rollback to any of them can restore it")


@check("ledger_intact", cartridge=False)
def ledger_intact(candidate: Optional[Candidate], context: Mapping[str, Any]) -> Any:
    report = ledger_verified(context)
    problems: list[Any] = [] if report.ok else [(f"the ledger chain is broken: {report.problem}", report.location)]
    kept = failed = 0
    for name in names_in_scope(candidate, context):
        listed = {r["version"]: r for r in versions(name, context)}
        for entry in done(history(name, context), "register"):
            if entry.get("version") not in listed:
                problems.append(("was registered but is no longer listed", f"{name}@{entry.get('version')}"))
            else:
                kept += 1
                failed += listed[entry["version"]].get("status") == "failed"
    return judge(problems, f"ledger hash chain verified ({plural(report.records, 'record')}); "
                 f"{plural(kept, 'registered version')} still listed, {failed} of them failed experiments")


@check("provenance_fields", record=True)
def provenance_fields(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    problems = []
    builder = candidate.field("builder") or {}
    if not candidate.version:
        problems.append("no version")
    generation = candidate.field("generation") or 0
    if candidate.field("parent") is None and generation:
        problems.append(f"generation {generation} but no parent")
    if not builder.get("who") or builder.get("kind") not in ("human", "llm"):
        problems.append(f"creator is not recorded as human or llm with a name: {builder!r}")
    if not candidate.field("created") and not candidate.building:
        problems.append("no creation timestamp")
    if not str(candidate.field("notes") or "").strip():
        problems.append("no notes")
    when = candidate.field("created") or "at registration (being built now)"
    return judge([(p, candidate.label) for p in problems],
                 f"{candidate.label}: version {candidate.version}, parent {candidate.field('parent')}, creator "
                 f"{builder.get('kind')}:{builder.get('who')}, created {when}, notes "
                 f"{len(str(candidate.field('notes') or ''))} characters")


@check("evolution_log_queryable")
def evolution_log_queryable(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    kernel = context["kernel"]
    report = ledger_verified(context)
    problems: list[Any] = [] if report.ok else [(f"the ledger chain is broken: {report.problem}", report.location)]
    renderers = [n for n in kernel.registry("subcommand").names() if n == "ledger render"]
    if not renderers:
        problems.append("no pixel-native view of the log: the 'ledger render' command (pxos-ledger) is not installed")
    mentions = sum(1 for r in kernel.ledger.records()
                   if candidate.name in (str((r.get("payload") or {}).get("cartridge")),
                                         str((r.get("payload") or {}).get("name"))))
    return judge(problems, f"ledger verified ({plural(report.records, 'record')}) and queried: "
                 f"{plural(mentions, 'record')} about {candidate.name}; pixel-native view: "
                 f"{'ledger render' if renderers else 'missing'}")


@check("reasoning_preserved", record=True)
def reasoning_preserved(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    problems = []
    if not str(candidate.field("notes") or "").strip():
        problems.append(("no notes say why this version exists", candidate.label))
    proposal = _proposal_of(candidate, context)
    if proposal is not None and not str(proposal["payload"].get("reasoning") or "").strip():
        problems.append((f"its proposal {proposal['id']} carries no reasoning", candidate.label))
    source = f"proposal {proposal['id']} in the ledger" if proposal else "no evolution proposal (built by hand)"
    return judge(problems, f"{candidate.label}: notes recorded; reasoning source: {source}")


@check("builder_recorded", record=True)
def builder_recorded(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    builder = candidate.field("builder") or {}
    problems = []
    if builder.get("kind") not in ("human", "llm"):
        problems.append((f"builder kind {builder.get('kind')!r} is neither human nor llm", candidate.label))
    proposal = _proposal_of(candidate, context)
    if proposal is not None:
        payload = proposal["payload"]
        author = payload.get("builder") or payload.get("author") or {}  # "author" in records before builder
        if author.get("kind") != builder.get("kind"):
            problems.append((f"registered as built by {builder.get('kind')}, but its proposal {proposal['id']} "
                             f"came from {author.get('kind')}", candidate.label))
    return judge(problems, f"{candidate.label} was built by {builder.get('kind')} {builder.get('who')!r}"
                 + (f", matching the author of proposal {proposal['id']}" if proposal else ""))


@check("llm_reasoning_logged", record=True)
def llm_reasoning_logged(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    checked, problems = 0, []
    entries = lineage(candidate, context)
    subjects = [(r["version"], r.get("builder") or {}) for r in entries if r["version"] != candidate.version]
    subjects.append((candidate.version, candidate.field("builder") or {}))
    for version, builder in subjects:
        if builder.get("kind") != "llm":
            continue
        checked += 1
        if version == candidate.version and candidate.proposal is not None:
            proposal: Optional[dict] = candidate.proposal
        else:
            build = build_record(candidate.name, version, context)
            proposal = build and proposal_record(build["payload"].get("proposal", ""), context)
        if not proposal:
            problems.append(("built by an LLM, but no proposal with its reasoning is in the ledger",
                             f"{candidate.name}@{version}"))
        elif not str(proposal["payload"].get("reasoning") or "").strip():
            problems.append((f"proposal {proposal['id']} has no reasoning", f"{candidate.name}@{version}"))
    return judge(problems, f"{plural(checked, 'LLM-built version')} in the lineage of {candidate.label}; each has its "
                 "proposal and reasoning in the ledger")


def _proposal_of(candidate: Candidate, context: Mapping[str, Any]) -> Optional[dict]:
    if candidate.proposal is not None:
        return candidate.proposal
    build = build_record(candidate.name, candidate.version, context)
    if build is None:
        return None
    return proposal_record(build["payload"].get("proposal", ""), context)

