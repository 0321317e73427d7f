"""The ``pxos-kernel cartridge ...`` commands: thin wrappers over the archive and registry API."""

from __future__ import annotations

import sys

from pxos_kernel import add_json_flag, add_sandbox_flags, print_json, print_table, progress, sandbox_flags

from pxos_cartridge.arguments import (
    add_approval, add_provenance, add_ref, builder_of, open_registry as _registry, print_result, show_fields,
    show_lineage, tests_verdict)


def _not_the_system(ref, action: str) -> None:
    """``pxos`` is the system cartridge's reserved name: its versions go through ``world ...``."""
    from pxos_cartridge.errors import RegistryError
    from pxos_cartridge.system import SYSTEM

    if ref and str(ref).split("@", 1)[0] == SYSTEM:
        raise RegistryError(f"{SYSTEM!r} is the system cartridge's reserved name: use 'pxos-kernel world {action}'")


def _ref(parser, help_text: str = "NAME or NAME@VERSION") -> None:
    add_ref(parser, "cartridge", metavar="NAME[@VERSION]", help_text=help_text)


def _approval(parser) -> None:
    add_approval(parser, who="who approves this transition",
                 approver="whether the approver is a human or an LLM (breaking changes need a human)",
                 breaking="accept crossing a breaking change (a human only)")


def _show_record(record: dict) -> None:
    tests = record.get("tests") or {}
    rows = [
        ("cartridge", f"{record['name']}@{record['version']}"), ("status", record["status"]),
        ("parent", record["parent"] or "-"), ("generation", record["generation"]),
        ("builder", builder_of(record)), ("created", record["created"]),
        ("sha256", record["sha256"]), ("size", record["size"]), ("breaking", record["breaking"]),
        ("capabilities", ", ".join(record["capabilities"]) or "-"), ("notes", record["notes"] or "-"),
        ("tests", "never run" if not tests else
         f"{'PASSED' if tests['passed'] else 'FAILED'} ({tests['status']}, exit {tests['exit_code']}, "
         f"{tests['counts'] or 'no counts'}, run {tests['run_id']})"),
    ]
    show_fields(record, rows)


# -- archives -----------------------------------------------------------------------------


def configure_pack(parser) -> None:
    parser.add_argument("directory", help="the directory tree to pack")
    parser.add_argument("-o", "--output", required=True, metavar="NAME.pxa", help="the archive to write")
    parser.add_argument("--manifest", metavar="YAML", help="cartridge manifest (default: DIR/cartridge.yaml)")
    parser.add_argument("--level", type=int, default=6, help="zlib level 0-9 (default 6)")
    add_json_flag(parser)


def run_pack(args) -> int:
    from pxos_cartridge.archive import pack_tree
    from pxos_kernel import file_sha256

    meta = pack_tree(args.directory, args.output, manifest=args.manifest, level=args.level)
    summary = {"archive": args.output, "members": len(meta["members"]), "payload": meta["length"],
               "sha256": file_sha256(args.output), "cartridge": meta.get("cartridge") or {}}
    if args.json:
        print_json(summary)
    else:
        print(f"packed {summary['members']} files ({summary['payload']} bytes) into {args.output} "
              f"(sha256 {summary['sha256'][:16]})")
    return 0


def configure_members(parser) -> None:
    parser.add_argument("archive", help="a .pxa file")
    add_json_flag(parser)


def run_members(args) -> int:
    from pxos_cartridge.archive import open_archive

    archive = open_archive(args.archive)
    if args.json:
        print_json({"archive": str(archive.path), "sha256": archive.sha256, "manifest": archive.manifest,
                    "members": [m.as_dict() for m in archive.members.values()]})
    else:
        print_table(["path", "size", "mode", "sha256"],
                    [[m.path, m.size, oct(m.mode), m.sha256[:16]] for m in archive.members.values()])
    return 0


def configure_unpack(parser) -> None:
    parser.add_argument("archive", help="a .pxa file")
    parser.add_argument("-o", "--output", dest="dest", required=True, help="directory to extract into")
    add_json_flag(parser)


def run_unpack(args) -> int:
    from pxos_cartridge.archive import open_archive

    archive = open_archive(args.archive)
    archive.extract(args.dest)
    if args.json:
        print_json({"archive": str(archive.path), "sha256": archive.sha256, "output": args.dest,
                    "files": sorted(archive.members)})
    else:
        print(f"extracted {len(archive.members)} files into {args.dest}")
    return 0


# -- registry ----------------------------------------------------------------------------


def configure_register(parser) -> None:
    parser.add_argument("archive", help="a .pxa file")
    parser.add_argument("--name", help="cartridge name (default: the manifest's)")
    parser.add_argument("--version", dest="cartridge_version", help="version (default: the manifest's)")
    add_provenance(parser, builder="who built it: human or llm", notes="free text kept with the version")
    parser.add_argument("--capability", action="append", dest="capabilities", metavar="CAP",
                        help="a capability it needs (repeatable; default: the manifest's)")
    parser.add_argument("--breaking", action="store_true", help="mark a breaking change (promotion needs a human)")
    add_json_flag(parser)


def run_register(args) -> int:
    from pxos_kernel import current_user

    from pxos_cartridge.archive import open_archive

    _not_the_system(args.name or open_archive(args.archive).manifest.get("name"), "register")
    record = _registry(args).register(
        args.archive, name=args.name, version=args.cartridge_version, parent=args.parent,
        builder={"kind": args.builder, "who": args.who or current_user()}, notes=args.notes,
        capabilities=args.capabilities, breaking=args.breaking)
    return print_result(args, record, lambda r: print(
        f"registered {r['name']}@{r['version']} (generation {r['generation']}, parent {r['parent'] or '-'}, "
        f"status {r['status']})"))


def configure_list(parser) -> None:
    parser.add_argument("name", nargs="?", help="only this cartridge")
    add_json_flag(parser)


def run_list(args) -> int:
    return print_result(args, _registry(args).list(args.name), lambda records: print_table(
        ["cartridge", "version", "status", "gen", "parent", "builder", "tests", "created"],
        [[r["name"], r["version"], r["status"], r["generation"], r["parent"] or "-", builder_of(r), tests_verdict(r),
          r["created"]] for r in records]))


def configure_show(parser) -> None:
    _ref(parser, "NAME (current, else latest) or NAME@VERSION")
    add_json_flag(parser)


def run_show(args) -> int:
    return print_result(args, _registry(args).get(args.cartridge), _show_record)


def configure_test(parser) -> None:
    _ref(parser)
    add_sandbox_flags(parser, what="the cartridge's tests")
    add_json_flag(parser)


def run_test(args) -> int:
    _not_the_system(args.cartridge, "test")
    with progress(description=f"cartridge test {args.cartridge}", total=2, unit="step") as bar:
        record = _registry(args).test(args.cartridge, limits=sandbox_flags(args),
                                      allow_unisolated=args.allow_unisolated, progress=bar)
    if args.json:
        print_json(record)
    else:
        _show_record(record)
        if not record["tests"]["passed"]:
            print(record["tests"]["output"][-2000:], file=sys.stderr)
    return 0 if record["tests"]["passed"] else 1


def configure_promote(parser) -> None:
    _ref(parser, "NAME@VERSION to make current")
    _approval(parser)


def run_promote(args) -> int:
    return _transition(args, "promote", args.cartridge, None)


def configure_rollback(parser) -> None:
    parser.add_argument("cartridge", metavar="NAME", help="the cartridge to roll back")
    parser.add_argument("--to", metavar="VERSION", help="the version to restore (default: the previous current)")
    _approval(parser)


def run_rollback(args) -> int:
    return _transition(args, "rollback", args.cartridge, args.to)


def _transition(args, action: str, ref: str, version) -> int:
    _not_the_system(ref, action)
    registry = _registry(args)
    method = registry.promote if action == "promote" else registry.rollback
    # A refusal (PromotionRefused) is already in the history and the ledger; the CLI prints it as one line.
    record = method(ref, version, approved_by=args.approved_by, reason=args.reason, approver_kind=args.approver,
                    breaking_ok=args.breaking_ok)
    replaced = record["promoted"]["replaced"]
    return print_result(args, record, lambda r: print(
        f"{r['name']}@{r['version']} is now current" + (f" (was {replaced})" if replaced else "")))


def configure_lineage(parser) -> None:
    _ref(parser)
    add_json_flag(parser)


def run_lineage(args) -> int:
    return print_result(args, _registry(args).lineage(args.cartridge), show_lineage)


def configure_history(parser) -> None:
    parser.add_argument("name", nargs="?", help="only this cartridge")
    add_json_flag(parser)


def run_history(args) -> int:
    return print_result(args, _registry(args).history(args.name), lambda entries: print_table(
        ["at", "action", "cartridge", "outcome", "by", "detail", "ledger"],
        [[h["at"], h["action"], f"{h['name']}@{h['version']}", h["outcome"], h["by"], h["detail"], h["ledger_id"]]
         for h in entries]))
