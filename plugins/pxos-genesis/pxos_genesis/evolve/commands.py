"""The ``evolve`` commands: argument parsing and printing around proposals and builds."""

from __future__ import annotations

from pxos_kernel.commands import add_json_flag, print_json, print_table


def configure_propose(parser) -> None:
    parser.add_argument("--goal", required=True, help="what the change should achieve")
    parser.add_argument("--cartridge", help="the cartridge to change (default: config genesis.cartridge)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--agent", help="ask this agent for the patch (default: the world's default agent)")
    source.add_argument("--patch", metavar="FILE", help="a human-written unified diff (paths a/... b/...)")
    parser.add_argument("--reason", default="", help="the reasoning behind a --patch (required with it)")
    parser.add_argument("--author", help="who wrote the --patch (default: the login name)")
    add_json_flag(parser)


def run_propose(args) -> int:
    from pxos_genesis.evolve.proposals import propose

    record = propose(args.kernel, goal=args.goal, cartridge=args.cartridge, agent=args.agent,
                     patch_file=args.patch, reason=args.reason, author=args.author)
    p = record["payload"]
    if args.json:
        print_json({"proposal": record["id"], "cartridge": p["cartridge"], "base_version": p["base_version"],
                    "author": p["author"], "files": p["files"], "reasoning": p["reasoning"]})
    else:
        print(f"proposal {record['id']}: {p['cartridge']}@{p['base_version']} by {p['author']['kind']} "
              f"{p['author']['who']}, touching {', '.join(p['files'])}")
        print(f"build it with: pxos-kernel evolve build {record['id']}")
    return 0


def configure_build(parser) -> None:
    parser.add_argument("proposal", metavar="PROPOSAL", help="the ATOM id printed by 'evolve propose'")
    add_json_flag(parser)


def run_build(args) -> int:
    from pxos_genesis.evolve.build import build

    result = build(args.kernel, args.proposal)
    if args.json:
        print_json({**result.as_dict(), "ledger_id": result.ledger_id, "refusals": result.refusals})
    else:
        label = f"{result.cartridge}@{result.version}" if result.version else result.cartridge
        if result.registered:
            print(f"{label} registered as {result.status} (parent {result.parent}); build record {result.ledger_id}")
            c = result.guardrails.get("counts", {})
            print(f"guardrails: {c.get('passed', 0)} passed, {c.get('failed', 0)} failed, "
                  f"{c.get('unchecked', 0)} unchecked; tests: {result.tests.get('status')} "
                  f"{result.tests.get('counts')}")
        else:
            print(f"{label}: nothing registered; build record {result.ledger_id}")
        for line in result.refusals:
            print(f"  refused: {line}")
        if result.registered and result.status == "experimental" and not result.refusals:
            print(f"promotion is a human decision: pxos-kernel cartridge promote {label} --approved-by WHO "
                  "--reason WHY")
    return 0 if result.registered and result.status == "experimental" and not result.refusals else 1


def configure_list(parser) -> None:
    add_json_flag(parser)


def run_list(args) -> int:
    rows = []
    for record in args.kernel.ledger.records():
        if record.get("type") not in ("PROPOSAL", "EVOLVE"):
            continue
        p = record["payload"]
        if record["type"] == "PROPOSAL":
            rows.append({"id": record["id"], "kind": "proposal", "cartridge": p.get("cartridge"),
                         "version": p.get("base_version"), "by": f"{p['author']['kind']}:{p['author']['who']}",
                         "status": "proposed", "what": p.get("goal")})
        else:
            rows.append({"id": record["id"], "kind": "build", "cartridge": p.get("cartridge"),
                         "version": p.get("version"), "by": f"{p['builder'].get('kind')}:{p['builder'].get('who')}",
                         "status": p.get("status"), "what": f"from {p.get('proposal')}"})
    if args.json:
        print_json(rows)
    else:
        print_table(["id", "kind", "cartridge", "version", "by", "status", "what"],
                    [[r[k] for k in ("id", "kind", "cartridge", "version", "by", "status", "what")] for r in rows])
    return 0
