"""The ``pxos-kernel world ...`` commands: pack the running system, and manage the versions that boot."""

from __future__ import annotations

import sys
from typing import Any

from pxos_kernel import add_json_flag, add_sandbox_flags, print_json, print_table, sandbox_flags

from pxos_cartridge.arguments import (
    add_approval, add_provenance, add_ref, builder_of, open_registry, print_result, show_fields, show_lineage,
    tests_verdict)


def _systems(args: Any) -> Any:
    return open_registry(args, system=True)


def _ref(parser: Any, required: bool = False) -> None:
    add_ref(parser, "system", metavar="VERSION", optional=not required,
            help_text="a system version (VERSION or pxos@VERSION; default: the current one, else the latest)")


def _approval(parser: Any) -> None:
    add_approval(parser, who="the human who approves this",
                 approver="human or llm (the system cartridge only accepts a human)",
                 reason="why (kept in the history and the ledger)",
                 breaking="accept crossing a breaking change (as the evolution pipeline judged it)")


# -- pack --------------------------------------------------------------------------------------------


def configure_pack(parser: Any) -> None:
    parser.add_argument("-o", "--output", metavar="FILE.pxa", help="the archive to write")
    parser.add_argument("--plugins", metavar="A,B", help="only these pxOS plugins (distribution names; "
                        "default: every installed one)")
    parser.add_argument("--native", action="store_true",
                        help="also carry this platform's native wheels (numpy, Pillow, ...)")
    parser.add_argument("--no-tests", action="store_true", help="leave the plugins' own tests out")
    parser.add_argument("--tests", metavar="A,B", help="carry only these distributions' tests (default: all)")
    parser.add_argument("--version", dest="system_version", metavar="V",
                        help="the version to record (default: kernel version + tree hash)")
    parser.add_argument("--shim", metavar="DIR", help="also write the boot shim pxos.py into DIR")
    parser.add_argument("--level", type=int, default=6, help="zlib level 0-9 (default 6)")
    add_json_flag(parser)


def run_pack(args: Any) -> int:
    from pxos_kernel import PxosError

    from pxos_cartridge.archive import file_sha256
    from pxos_cartridge.system import pack_system, write_shim

    if not args.output and not args.shim:
        raise PxosError("world pack needs -o FILE.pxa (and/or --shim DIR)")
    summary: dict = {}
    if args.output:
        plugins = None if args.plugins is None else [p for p in args.plugins.split(",") if p.strip()]
        tests = False if args.no_tests else True if args.tests is None else [t for t in args.tests.split(",") if t]
        meta = pack_system(args.output, plugins, native=args.native, tests=tests,
                           version=args.system_version, level=args.level)
        system = meta["system"]
        summary = {"archive": args.output, "version": meta["cartridge"]["version"], "sha256": file_sha256(args.output),
                   "members": len(meta["members"]), "payload": meta["length"],
                   "distributions": [f"{d['name']} {d['version']}" for d in system["distributions"]],
                   "missing": system["missing"], "native": [b["name"] for b in system["native"]["bundles"]],
                   "tests": [s["distribution"] for s in system["tests"]]}
    if args.shim:
        summary["shim"] = str(write_shim(args.shim))
    if args.json:
        print_json(summary)
        return 0
    if args.output:
        print(f"packed pxos@{summary['version']}: {len(summary['distributions'])} distributions, "
              f"{summary['members']} files ({summary['payload']} bytes) into {args.output} "
              f"(sha256 {summary['sha256'][:16]})")
        if summary["native"]:
            print(f"  native: {', '.join(summary['native'])}")
        for missing in summary["missing"]:
            print(f"  not in it: {missing['name']} (for {', '.join(missing['required_by']) or '?'}): "
                  f"{missing['reason']}")
    if args.shim:
        print(f"wrote the boot shim {summary['shim']}")
    return 0


# -- registry ---------------------------------------------------------------------------------------


def configure_register(parser: Any) -> None:
    parser.add_argument("archive", help="a .pxa written by 'world pack'")
    parser.add_argument("--version", dest="system_version", help="version (default: the one packed in)")
    add_provenance(parser, builder="who built it", notes="why this version exists")
    add_json_flag(parser)


def run_register(args: Any) -> int:
    from pxos_kernel import current_user

    record = _systems(args).register(args.archive, version=args.system_version, parent=args.parent,
                                     builder={"kind": args.builder, "who": args.who or current_user()},
                                     notes=args.notes)
    return print_result(args, record, lambda r: print(
        f"registered pxos@{r['version']} (generation {r['generation']}, parent {r['parent'] or '-'}, status "
        f"{r['status']}); next: pxos-kernel world test {r['version']}"))


def configure_list(parser: Any) -> None:
    add_json_flag(parser)


def run_list(args: Any) -> int:
    return print_result(args, _systems(args).list(), lambda records: print_table(
        ["version", "status", "gen", "parent", "builder", "tests", "size", "created"],
        [[r["version"], r["status"], r["generation"], r["parent"] or "-", builder_of(r), tests_verdict(r), r["size"],
          r["created"]] for r in records]))


def configure_show(parser: Any) -> None:
    _ref(parser)
    add_json_flag(parser)


def run_show(args: Any) -> int:
    return print_result(args, _systems(args).get(args.system), show_record)


def show_record(record: dict) -> None:
    """A system version as ``world show`` prints it: provenance, contents, tests, guardrails, benchmarks."""
    from pxos_cartridge.registry import failure_summary

    system = record.get("system") or {}
    tests = record.get("tests") or {}
    rows = [
        ("system", f"pxos@{record['version']}"), ("status", record["status"]), ("parent", record["parent"] or "-"),
        ("generation", record["generation"]), ("builder", builder_of(record)),
        ("created", record["created"]), ("sha256", record["sha256"]), ("size", record["size"]),
        ("notes", record["notes"] or "-"),
        ("distributions", ", ".join(f"{d['name']} {d['version']}" for d in system.get("distributions", [])) or "-"),
        ("not carried", "; ".join(f"{m['name']} ({m['reason']})" for m in system.get("missing", [])) or "-"),
        ("native", ", ".join((system.get("native") or {}).get("bundles") or []) or "none (pure Python)"),
        ("tests carried", ", ".join(system.get("tests") or []) or "none"),
    ]
    if not tests:
        rows.append(("tests", "never run (pxos-kernel world test VERSION)"))
    else:
        verdict = "PASSED" if tests["passed"] else f"FAILED: {failure_summary(tests)}"
        rows.append(("tests", f"{verdict} ({tests.get('scope', '?')} run {tests['run_id']} at {tests['ran_at']})"))
        for suite in tests.get("suites") or []:
            counts = ", ".join(f"{n} {k}" for k, n in sorted((suite.get("counts") or {}).items())) or "no tests"
            rows.append((f"  {suite['distribution']}", f"{'passed' if suite['passed'] else 'FAILED'} ({counts}, "
                                                        f"{suite.get('duration', '?')} s)"))
        guardrails = (tests.get("guardrails") or {}).get("counts") or {}
        rows.append(("guardrails", ", ".join(f"{n} {k}" for k, n in guardrails.items()) or "-"))
    benchmarks = record.get("benchmarks") or {}
    for name, figure in sorted(benchmarks.items()):
        rows.append((f"bench {name}", figure if not isinstance(figure, dict) else
                     ", ".join(f"{k} {v}" for k, v in sorted(figure.items()))))
    if not benchmarks:
        rows.append(("benchmarks", "none recorded"))
    show_fields(record, rows)


def configure_test(parser: Any) -> None:
    _ref(parser)
    parser.add_argument("--distribution", action="append", metavar="NAME",
                        help="only this distribution's tests (repeatable; a partial run cannot promote)")
    add_sandbox_flags(parser, what="the system's tests")
    add_json_flag(parser)


def run_test(args: Any) -> int:
    record = _systems(args).test(args.system, distributions=args.distribution, limits=sandbox_flags(args),
                                 allow_unisolated=args.allow_unisolated)
    if args.json:
        print_json(record)
    else:
        show_record(record)
        if not record["tests"]["passed"]:
            for suite in record["tests"].get("suites") or []:
                if not suite["passed"] and suite.get("output"):
                    print(f"--- {suite['distribution']}:\n{suite['output'][-2000:]}", file=sys.stderr)
    return 0 if record["tests"]["passed"] else 1


def configure_promote(parser: Any) -> None:
    _ref(parser, required=True)
    _approval(parser)


def run_promote(args: Any) -> int:
    systems = _systems(args)
    seen = (systems.current() or {}).get("version")  # what this human decided against
    record = systems.promote(args.system, approved_by=args.approved_by, reason=args.reason,
                             approver_kind=args.approver, expected_current=seen, breaking_ok=args.breaking_ok)
    return _made_current(args, record)


def configure_rollback(parser: Any) -> None:
    parser.add_argument("--to", metavar="VERSION", help="the version to restore (default: the previous current)")
    _approval(parser)


def run_rollback(args: Any) -> int:
    systems = _systems(args)
    seen = (systems.current() or {}).get("version")
    record = systems.rollback(args.to, approved_by=args.approved_by, reason=args.reason,
                              approver_kind=args.approver, expected_current=seen, breaking_ok=args.breaking_ok)
    return _made_current(args, record)


def _made_current(args: Any, record: dict) -> int:
    replaced = record["promoted"]["replaced"]
    return print_result(args, record, lambda r: print(
        f"pxos@{r['version']} is now the current system" + (f" (was {replaced})" if replaced else "")
        + "; python3 -I pxos.py boots it"))


def configure_lineage(parser: Any) -> None:
    _ref(parser)
    add_json_flag(parser)


def run_lineage(args: Any) -> int:
    return print_result(args, _systems(args).lineage(args.system), show_lineage)


def configure_history(parser: Any) -> None:
    add_json_flag(parser)


def run_history(args: Any) -> int:
    return print_result(args, _systems(args).history(), lambda entries: print_table(
        ["at", "action", "version", "outcome", "by", "reason", "detail", "ledger"],
        [[h["at"], h["action"], h["version"], h["outcome"], h["by"], h.get("reason") or "-", h["detail"],
          h["ledger_id"]] for h in entries]))
