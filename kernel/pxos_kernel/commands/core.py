"""``plugins``, ``inspect``, ``genesis`` and ``log``."""

from __future__ import annotations

from pxos_kernel.errors import UsageError
from pxos_kernel.output import add_json_flag, print_json, print_table


def configure_plugins(parser) -> None:
    add_json_flag(parser)


def run_plugins(args) -> int:
    plugins = args.kernel.plugins
    problems = plugins.collect_all()
    infos = sorted(plugins.info.values(), key=lambda i: (i.name != "kernel", i.name))
    if args.json:
        print_json({"plugins": [i.as_dict() for i in infos], "problems": problems})
        return 0
    rows = []
    for info in infos:
        registered = "; ".join(f"{family}: {_names(names)}" for family, names in sorted(info.registered.items())
                               if family != "subcommand")
        commands = len(info.registered.get("subcommand", []))
        if commands:
            registered += ("; " if registered else "") + f"{commands} command(s)"
        rows.append([info.name, info.distribution, info.version, "yes" if info.loaded else "NO", registered or "-"])
    print_table(["plugin", "distribution", "version", "loaded", "registered"], rows)
    for info in infos:
        for error in info.errors:
            print(f"  {info.name}: {error}")
    for problem in problems:
        print(f"  conflict: {problem}")
    return 0


def _names(names: list[str], most: int = 6) -> str:
    """Names for a table cell: all of a few, or a count and the ends of a long list (--json has all)."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{len(names)} ({names[0]} ... {names[-1]})"


def configure_inspect(parser) -> None:
    add_json_flag(parser)
    parser.add_argument("--engines", action="store_true",
                        help="also ask each inference engine where it computes (loads the engines and their libraries)")


def run_inspect(args) -> int:
    report = args.kernel.hypervisor.inspect_self(engines=args.engines)
    if args.json:
        print_json(report)
        return 0
    k = report["kernel"]
    print(f"pxOS kernel {k['version']} on Python {k['python']} ({k['platform']}), home {k['home']}")
    print(f"ledger: {report['ledger']['location']} head={report['ledger']['head']}")
    print("registries:")
    for family, names in report["registries"].items():
        if family != "subcommand":
            print(f"  {family:10} {', '.join(names) or '-'}")
    world = report["world"]
    print(f"world '{world['name']}' ({world['source']}):")
    for family, name in world["defaults"].items():
        missing = " (MISSING)" if family in world["missing_defaults"] else ""
        print(f"  default {family:16} {name}{missing}")
    if world["missing_plugins"]:
        print(f"  missing plugins: {', '.join(world['missing_plugins'])}")
    print("sandbox mechanisms (probed on this machine):")
    for name, m in report["sandbox_mechanisms"].items():
        print(f"  {'yes' if m['works'] else 'NO ':3} {name:22} {m['detail']}")
    print("sandbox protections:")
    for name, p in report["sandbox"].items():
        print(f"  {'yes' if p['enforced'] else 'NO ':3} {name:22} {p['how']}")
    for name, engine in report.get("engines", {}).items():
        if "not_probed" in engine:
            continue
        for line in engine.get("summary") or [f"engine {name}: {engine.get('error', 'no report')}"]:
            print(line)
    for problem in report["problems"]:
        print(f"problem: {problem}")
    return 0


def configure_genesis(parser) -> None:
    parser.add_argument("--cartridge", help="judge this cartridge instead of the current world")
    add_json_flag(parser)


def run_genesis(args) -> int:
    report = args.kernel.hypervisor.validate_genesis(args.cartridge, {"cartridge": args.cartridge})
    record = args.kernel.checkpoint("GENESIS", "validate_genesis", {
        "cartridge": args.cartridge, "counts": report["counts"], "compliant": report["compliant"]},
        corridor="DISTRICT_6.CHAMBER_GENESIS.NODE_VALIDATE")
    report["ledger_id"] = record["id"]
    if args.json:
        print_json(_genesis_json(report))
    elif not report["items"]:
        print("no guardrails are installed, so nothing was checked: this is not a compliance result "
              "(install pxos-genesis)")
    else:
        for item in report["items"]:
            print(f"{item['status'].upper():9} {item['id']:8} {item['text']}")
            print(f"          evidence: {item['evidence']}")
            for message in item.get("violations", []):  # what failed, not only what was looked at
                print(f"          violation: {message}")
        c = report["counts"]
        print(f"{c['passed']} passed, {c['failed']} failed, {c['unchecked']} unchecked")
    if not report["items"]:
        return 3
    return 0 if report["counts"]["failed"] == 0 else 1


def _genesis_json(report: dict) -> dict:
    """``{"items": [{"id", "principle", "text", "status", "evidence"}], ...}``: each item exactly those
    five keys; what each violation says and which plugin answered go in top-level lists beside it."""
    keys = ("id", "principle", "text", "status", "evidence")
    out = {k: v for k, v in report.items() if k != "items"}
    out["items"] = [{k: item[k] for k in keys} for item in report["items"]]
    out["violations"] = [{"id": item["id"], "message": message}
                         for item in report["items"] for message in item.get("violations", [])]
    out["plugins"] = {item["id"]: item.get("plugin") for item in report["items"]}
    return out


def configure_log(parser) -> None:
    parser.add_argument("-n", type=int, default=20, metavar="N", help="show the last N runs (default 20)")
    add_json_flag(parser)


def run_log(args) -> int:
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, not {args.n}")
    posts: list[dict] = []
    for record in args.kernel.ledger.records_newest_first():  # the last N runs cost N, whatever the ledger's size
        if record.get("type") == "RUN" and record.get("corridor", "").endswith("NODE_POST"):
            posts.append(record)
            if len(posts) == args.n:
                break
    posts.reverse()
    if args.json:
        print_json(posts)
        return 0
    rows = [[r["id"], r["ts"][:19].replace("T", " "), r["payload"].get("program"), r["payload"].get("status"),
             r["payload"].get("exit_code"), f"{r['payload'].get('duration') or 0:.3f}s",
             "yes" if r["payload"].get("sandbox") else "no"] for r in posts]
    print_table(["id", "time", "program", "status", "exit", "duration", "sandbox"], rows)
    return 0
