"""The ``evolve`` commands: argument parsing and printing around proposals and builds."""

from __future__ import annotations

from pxos_kernel import NotFoundError, add_json_flag, print_json, print_table


def configure_propose(parser) -> None:
    parser.add_argument("--goal", default="", help="what the change should achieve (with --from-task: "
                        "default the task's goal)")
    parser.add_argument("--cartridge", help="the cartridge to change (default: config genesis.cartridge)")
    parser.add_argument("--parent", metavar="VERSION", help="the version the patch is against (default: the "
                        "current one, else the latest)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--patch", metavar="FILE", help="a human-written unified diff (paths a/... b/...)")
    source.add_argument("--agent", help="ask this agent for the patch (default: the world's default agent)")
    source.add_argument("--from-task", type=int, metavar="ID", help="the proposal the coach accepted for this "
                        "agent task")
    parser.add_argument("--reason", default="", help="the reasoning behind a --patch (required with it)")
    parser.add_argument("--author", help="who wrote the --patch (default: the login name)")
    parser.add_argument("--file", action="append", default=[], metavar="PATH",
                        help="with --agent: a cartridge file the agent is shown and may change (repeatable)")
    add_json_flag(parser)


def run_propose(args) -> int:
    from pxos_genesis.evolve.proposals import propose

    record = propose(args.kernel, goal=args.goal, cartridge=args.cartridge, parent=args.parent, agent=args.agent,
                     patch_file=args.patch, reason=args.reason, author=args.author, from_task=args.from_task,
                     files=args.file)
    p = record["payload"]
    if args.json:
        print_json({"proposal": record["id"], **{k: p[k] for k in ("cartridge", "parent", "goal", "builder",
                                                                    "reasoning", "files", "source")}})
        return 0
    b = p["builder"]
    touching = ", ".join(p["files"]) if p["files"] else "no file it could read"
    print(f"proposal {record['id']}: {p['cartridge']}@{p['parent']} by {b['kind']} {b['who']}, touching {touching}")
    if not p["files"]:
        print("  note: the patch is not a diff this pipeline can apply; its build will fail, and be kept")
    print(f"build it with: pxos-kernel evolve build {record['id']}")
    return 0


def configure_build(parser) -> None:
    parser.add_argument("proposal", metavar="PROPOSAL", help="the ATOM id printed by 'evolve propose'")
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="run the candidate's tests even where the sandbox cannot isolate the filesystem "
                             "(written to the ledger)")
    add_json_flag(parser)


def run_build(args) -> int:
    from pxos_genesis.evolve.build import build

    result = build(args.kernel, args.proposal, allow_unisolated=args.allow_unisolated)
    if args.json:
        print_json({**result.as_dict(), "ledger_id": result.ledger_id})
        return result.exit_code
    if result.status == "experimental":
        print(f"{result.label} registered as experimental (parent {result.parent}); build record {result.ledger_id}")
    else:
        print(f"{result.label} {result.status} at {result.stage}: {result.reason}")
        where = "registered as failed" if result.registered else "nothing registered"
        print(f"  {where}; workspace kept at {result.workspace}; build record {result.ledger_id}")
    _print_findings(result.as_dict())
    if result.status == "experimental":
        from pxos_cartridge.world import SYSTEM

        promote = (f"world promote {result.version}" if result.cartridge == SYSTEM
                   else f"cartridge promote {result.label}")
        print(f"promotion is a human decision: pxos-kernel {promote} --approved-by WHO --reason WHY"
              + (" --breaking-ok (it is breaking)" if result.breaking.get("breaking") else ""))
    return result.exit_code


def _print_findings(build: dict) -> None:
    """The judgement lines of one build: breaking, tests, guardrails."""
    breaking = build.get("breaking") or {}
    if breaking:
        print("  breaking: " + ("yes: " + "; ".join(breaking["reasons"]) if breaking.get("breaking") else "no"))
    tests = build.get("tests") or {}
    if tests:
        summed = ", ".join(f"{n} {k}" for k, n in sorted((tests.get("counts") or {}).items())) or "no counts"
        print(f"  tests: {tests.get('status')}, {summed}: {tests.get('what')}, {' '.join(tests.get('command') or [])}"
              f" (ledger run {tests.get('run_id')})")
    counts = (build.get("guardrails") or {}).get("counts")
    if counts:
        print(f"  guardrails: {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
              f"{counts.get('unchecked', 0)} unchecked")
    figures = (build.get("benchmarks") or {}).get("figures") or {}
    if figures:
        print("  benchmarks: " + "; ".join(f"{name} {f['build ms']} ms (parent {f['parent ms']} ms, x{f['ratio']})"
                                           for name, f in sorted(figures.items())))


def configure_list(parser) -> None:
    parser.add_argument("--cartridge", help="only this cartridge's proposals and builds")
    add_json_flag(parser)


def run_list(args) -> int:
    from pxos_genesis.evolve.history import read_evolution

    story = read_evolution(args.kernel)
    rows = []
    for entry in story.proposals.values():
        p = entry.proposal
        if args.cartridge and (p is None or p.cartridge != args.cartridge):
            continue
        if p is None:
            rows.append({"id": entry.id, "kind": "proposal", "cartridge": None, "lineage": None, "by": None,
                         "status": "corrupt", "why": entry.corrupt})
            continue
        rows.append({"id": entry.id, "kind": "proposal", "cartridge": p.cartridge, "lineage": p.parent, "by": p.by,
                     "status": f"built {len(entry.builds)}x" if entry.builds else "proposed", "why": p.goal})
        for b in entry.builds:
            status = b["status"]
            if b.get("registry_status") not in (None, b["status"]):
                status += f" (now {b['registry_status']})"
            rows.append({"id": b.get("record") or b.get("start"), "kind": "build", "build": b["build"],
                         "cartridge": b.get("cartridge"),
                         "lineage": f"{b.get('parent')} -> {b.get('version') or '?'}", "by": p.by, "status": status,
                         "why": b.get("reason") or ("breaking: " + "; ".join(b["breaking"]["reasons"])
                                                    if (b.get("breaking") or {}).get("breaking") else "")})
    if args.json:
        print_json(rows)
    else:
        print_table(["id", "kind", "cartridge", "lineage", "by", "status", "why"],
                    [[r["id"], r["kind"], r["cartridge"], r["lineage"], r["by"], r["status"], _short(r["why"])]
                     for r in rows])
    return 0


def configure_show(parser) -> None:
    parser.add_argument("ref", metavar="REF", help="a proposal or build ATOM id, a build id, or NAME@VERSION")
    parser.add_argument("--diff", action="store_true", help="print the proposal's patch too")
    add_json_flag(parser)


def run_show(args) -> int:
    from pxos_genesis.evolve.history import find_build, read_evolution
    from pxos_genesis.evolve.proposals import CorruptProposal

    story = read_evolution(args.kernel)
    entry = story.proposals.get(args.ref)
    build = None if entry else find_build(story, args.ref)
    if build is not None:
        entry = story.proposals.get(str(build.get("proposal")))
    if entry is None:
        raise NotFoundError(f"no evolution proposal or build {args.ref!r} in the ledger (see: pxos-kernel evolve list)")
    if entry.proposal is None:
        raise CorruptProposal(entry.corrupt)
    lineage = _lineage(args.kernel, build) if build else []
    if args.json:
        print_json({"proposal": entry.as_dict(), "builds": entry.builds if build is None else [build],
                    "lineage": lineage})
        return 0
    p = entry.proposal
    print(f"proposal {entry.id} ({entry.ts}): {p.cartridge}@{p.parent} by {p.builder['kind']} {p.builder['who']}"
          + (f" ({p.builder['model']})" if p.builder.get("model") else ""))
    print(f"  goal: {p.goal}")
    print(f"  source: {', '.join(f'{k} {v}' for k, v in p.source.items() if v not in (None, '', []))}")
    print("  reasoning, as given:")
    for line in (p.reasoning or "(none)").splitlines() or ["(none)"]:
        print(f"    | {line}")
    added = sum(1 for line in p.patch.splitlines() if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in p.patch.splitlines() if line.startswith("-") and not line.startswith("---"))
    print(f"  patch: {len(p.files)} file(s), +{added} -{removed} lines: {', '.join(p.files) or '(none readable)'}")
    if args.diff:
        print(p.patch, end="" if p.patch.endswith("\n") else "\n")
    for b in entry.builds if build is None else [build]:
        now = f", now {b['registry_status']}" if b.get("registry_status") not in (None, b["status"]) else ""
        print(f"build {b['build']} ({b.get('record') or b.get('start')}): {b.get('parent')} -> "
              f"{b.get('version') or '?'} {b['status']}{now}" + (f" at {b.get('stage')}" if b.get("reason") else ""))
        if b.get("reason"):
            print(f"  reason: {b['reason']}")
        if b.get("kept"):
            print(f"  workspace kept: {b.get('workspace')}")
        _print_findings(b)
    if lineage:
        print("lineage: " + " -> ".join(f"{r['version']} ({r['status']}, {r['builder']['kind']})" for r in lineage))
    return 0


def _lineage(kernel, build: dict) -> list[dict]:
    if not build.get("registered"):
        return []
    from pxos_genesis.subject import registry

    return [{k: r.get(k) for k in ("version", "parent", "status", "builder", "created", "notes")}
            for r in registry(kernel).lineage(build["cartridge"], build["version"])]


def _short(text, width: int = 100) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[:width - 3] + "..."
