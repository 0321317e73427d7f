"""The ``ledger ...`` subcommands this plugin adds (the kernel owns verify, seal and repair).

``configure_*`` functions run on every CLI start, so this module imports only the
stdlib and the kernel; each action imports what it needs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pxos_kernel import LedgerError, NotFoundError, UsageError, add_json_flag, print_json, print_table

_BRANCH = re.compile(r"^[a-z0-9_]{1,40}$")


# -- shared pieces ---------------------------------------------------------------------------


def _add_filters(parser) -> None:
    parser.add_argument("--agent", help="only records written by this agent")
    parser.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE",
                        help="only records of this type (repeatable)")
    parser.add_argument("--corridor", metavar="PREFIX", help="corridor prefix, e.g. DISTRICT_4 or DISTRICT_4.CHAMBER_EXEC")
    parser.add_argument("--op", help="only records of this operation")
    parser.add_argument("--since", metavar="TIME", help="records at or after this ISO 8601 time")
    parser.add_argument("--until", metavar="TIME", help="records at or before this ISO 8601 time")
    parser.add_argument("--id", dest="atom", metavar="ATOM-ID", help="the one record with this ATOM id")
    parser.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                        help="payload field equals value (dotted path; value parsed as JSON if it can be)")
    parser.add_argument("--from", dest="start", type=int, default=1, metavar="SEQ", help="start at this sequence")
    parser.add_argument("-n", "--limit", type=int, default=0, help="at most this many records (0: all)")
    parser.add_argument("--branch", metavar="NAME", help="read the branch ledger made by 'ledger replay --fork NAME'")
    add_json_flag(parser)


def _selected(args) -> list[dict]:
    from pxos_ledger.query import Filter, parse_where

    filt = Filter(agent=args.agent, types=tuple(args.types), corridor=args.corridor, op=args.op,
                  since=args.since, until=args.until, atom=args.atom,
                  where=[parse_where(w) for w in args.where])
    ledger = _branch_ledger(args.kernel, args.branch) if args.branch else args.kernel.ledger
    found = []
    for record in filt.apply(ledger.records(max(args.start, filt.start_seq))):
        found.append(record)
        if args.limit and len(found) >= args.limit:
            break
    return found


def _branch_ledger(kernel, name: str, *, create: bool = False):
    """The ledger of branch ``name``: a sink of the same kind beside the main one."""
    from pxos_kernel import Ledger

    if not _BRANCH.match(name or ""):
        raise LedgerError(f"branch name {name!r} must be 1-40 lower-case letters, digits and '_'")
    root = kernel.home / "ledger" / "forks" / name
    if not create and not root.exists():
        raise NotFoundError(f"no branch ledger {name!r} (make one with 'ledger replay --fork {name}')")
    root.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in kernel.section("ledger").items() if k != "path"}
    settings.update(root=str(root), table=f"{settings.get('table', 'pxos_ledger')}_fork_{name}")
    sink = kernel.build("sink", kernel.default_name("sink"), settings)
    return Ledger(sink, key=kernel.ledger.key)


def _find(kernel, atom: str) -> dict:
    return kernel.ledger.find(atom)


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except OSError as exc:
        raise LedgerError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise LedgerError(f"{what} {path}: not JSON ({exc})") from None


def _write_json(path: str, value) -> None:
    from pxos_kernel import atomic_write

    atomic_write(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


# -- show / query -----------------------------------------------------------------------------


def configure_ledger_show(parser) -> None:
    parser.add_argument("atom_id", nargs="?", metavar="ATOM-ID", help="show this record")
    _add_filters(parser)


def run_ledger_show(args) -> int:
    if args.atom_id:
        args.atom = args.atom_id
    records = _selected(args)
    if args.json:
        print_json(records)
    else:
        for record in records:
            print(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def configure_ledger_query(parser) -> None:
    _add_filters(parser)


def run_ledger_query(args) -> int:
    records = _selected(args)
    if args.json:
        print_json(records)
    else:
        print_table(["seq", "id", "agent", "corridor", "op", "ts"],
                    [[r.get("seq"), r.get("id"), r.get("agent"), r.get("corridor"), r.get("op"), r.get("ts")]
                     for r in records])
    return 0


# -- replay and fork --------------------------------------------------------------------------


def configure_ledger_replay(parser) -> None:
    parser.add_argument("--to", metavar="ATOM-ID", help="stop after this record: the state at that point")
    parser.add_argument("--fork", metavar="NAME", help="start a branch ledger NAME whose first record links here")
    parser.add_argument("--reducer", action="append", default=[], help="only this reducer (repeatable)")
    add_json_flag(parser)


def run_ledger_replay(args) -> int:
    from pxos_ledger.reducers import collect, replay

    kernel = args.kernel
    reducers = collect(kernel)
    unknown = [name for name in args.reducer if name not in reducers]
    if unknown:
        raise NotFoundError(f"no ledger reducer {unknown[0]!r} (registered: {', '.join(sorted(reducers))})")
    if args.reducer:
        reducers = {name: reducers[name] for name in args.reducer}
    if args.to:
        point = _find(kernel, args.to)  # a clear error for a missing ATOM id, before any work
    report = kernel.ledger.verify()
    if not report.ok:
        raise LedgerError(f"the ledger does not verify, refusing to replay it: {report.problem}")
    result = replay(kernel.ledger.records(), reducers, args.to)
    if args.fork:
        point = point if args.to else kernel.ledger.head()
        if point is None:
            raise LedgerError("cannot fork an empty ledger")
        branch = _branch_ledger(kernel, args.fork, create=True)
        if branch.head() is not None:
            raise LedgerError(f"branch ledger {args.fork!r} already exists at {branch.location}; pick another name")
        first = branch.append("FORK", "fork", {
            "parent": {"location": kernel.ledger.location, "id": point["id"], "seq": point["seq"],
                       "hash": point["hash"]},
            "state": result["state"]}, corridor="DISTRICT_0.CHAMBER_LEDGER.NODE_FORK")
        result["fork"] = {"name": args.fork, "location": branch.location, "first": first["id"]}
        branch.close()
    if args.json:
        print_json(result)
    else:
        print(f"replayed {result['records']} records up to {result['last']}")
        for name, state in result["state"].items():
            print(f"{name}: {json.dumps(state, sort_keys=True)}")
        if args.fork:
            print(f"branch {args.fork!r} started at {result['fork']['location']} ({result['fork']['first']})")
    return 0


def configure_ledger_reducers(parser) -> None:
    add_json_flag(parser)


def run_ledger_reducers(args) -> int:
    from pxos_ledger.reducers import collect

    rows = [{"name": r.name, "types": list(r.types) if r.types else None, "summary": r.summary}
            for r in collect(args.kernel).values()]
    if args.json:
        print_json(rows)
    else:
        print_table(["name", "types", "summary"],
                    [[r["name"], ",".join(r["types"] or ["*"]), r["summary"]] for r in rows])
    return 0


# -- Merkle proofs -----------------------------------------------------------------------------


def configure_ledger_prove(parser) -> None:
    parser.add_argument("atom_id", metavar="ATOM-ID")
    parser.add_argument("--head", metavar="FILE", help="a head written by 'ledger seal' (default: seal now)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the proof here (default: stdout)")
    add_json_flag(parser)


def run_ledger_prove(args) -> int:
    from pxos_kernel import leaf_hash
    from pxos_ledger.merkle import make_proof

    ledger = args.kernel.ledger
    record = _find(args.kernel, args.atom_id)
    head = _read_json(args.head, "sealed head") if args.head else ledger.seal()
    problem = ledger.check_head(head)
    if problem:
        raise LedgerError(f"the ledger does not match the sealed head: {problem}")
    if record["seq"] > head["tree_size"]:
        raise LedgerError(f"{args.atom_id} was appended after the sealed head ({head['tree_size']} records); "
                          "run 'ledger seal' again")
    leaves: list[str] = []
    for item in ledger.records():
        if len(leaves) == head["tree_size"]:
            break
        leaves.append(leaf_hash(item))
    proof = make_proof(record, leaves, head)
    if args.output:
        _write_json(args.output, proof)
    if args.json or not args.output:
        print_json(proof if not args.output else {"file": args.output, "leaf_index": proof["leaf_index"],
                                                  "tree_size": proof["tree_size"], "path_length": len(proof["path"])})
    else:
        print(f"proof of {args.atom_id} (leaf {proof['leaf_index']} of {proof['tree_size']}, "
              f"{len(proof['path'])} hashes): {args.output}")
    return 0


def configure_ledger_check_proof(parser) -> None:
    parser.add_argument("proof", metavar="FILE", help="a proof written by 'ledger prove'")
    add_json_flag(parser)


def run_ledger_check_proof(args) -> int:
    from pxos_ledger.merkle import check_proof

    proof = _read_json(args.proof, "proof")
    problem = check_proof(proof, args.kernel.ledger.key)
    record = proof.get("record") if isinstance(proof, dict) else None
    atom = record.get("id") if isinstance(record, dict) else None
    if args.json:
        print_json({"ok": problem is None, "problem": problem, "id": atom,
                    "tree_size": proof.get("tree_size") if isinstance(proof, dict) else None})
    elif problem:
        print(f"FAILED: {args.proof}: {problem}")
    else:
        print(f"ok: {atom} is record {proof['leaf_index'] + 1} of the sealed ledger of {proof['tree_size']} records")
    return 0 if problem is None else 1


# -- pictures and token pixels -----------------------------------------------------------------


def configure_ledger_render(parser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png")
    parser.add_argument("--last", type=int, default=0, metavar="N", help="draw only the last N records")
    add_json_flag(parser)


def run_ledger_render(args) -> int:
    from pxos_kernel import LedgerCorruptError
    from pxos_ledger.render import judge, render

    ledger = args.kernel.ledger
    records, unreadable = [], None
    try:
        for record in ledger.records():
            records.append(record)
    except LedgerCorruptError as exc:
        unreadable = str(exc)
    judged = judge(records, ledger.key)
    if unreadable:
        judged.append(({"type": "UNREADABLE", "id": None}, unreadable))
    if args.last:
        judged = judged[-args.last:]
    drawn = render(judged, args.output)
    drawn.update(file=args.output, unreadable=unreadable)
    if args.json:
        print_json(drawn)
    else:
        print(f"drew {drawn['records']} records ({drawn['broken']} broken) into {args.output} "
              f"({drawn['width']}x{drawn['height']})")
    return 0


def configure_ledger_tokens(parser) -> None:
    parser.add_argument("atom_id", metavar="ATOM-ID")
    parser.add_argument("--limit", type=int, default=4096, help="token cap (default 4096)")
    add_json_flag(parser)


def run_ledger_tokens(args) -> int:
    from pxos_ledger.tokens import token_stream

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    record = _find(args.kernel, args.atom_id)
    tokens = token_stream(record["payload"], args.limit)
    if args.json:
        truncated = bool(tokens) and tokens[-1]["type"] == "marker"
        print_json({"id": record["id"], "tokens": tokens, "truncated": truncated})
    else:
        for token in tokens:
            sys.stdout.write(json.dumps(token, ensure_ascii=False) + "\n")
    return 0


def configure_ledger_grid(parser) -> None:
    parser.add_argument("atom_id", metavar="ATOM-ID")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="writes pixel_grid.json and pixel_grid.png")
    add_json_flag(parser)


def run_ledger_grid(args) -> int:
    from pxos_ledger.tokens import grid_png, pixel_grid

    record = _find(args.kernel, args.atom_id)
    grid = pixel_grid(record["payload"])
    out = Path(args.output)
    _write_json(str(out / "pixel_grid.json"), grid)
    grid_png(grid, out / "pixel_grid.png")
    result = {"id": record["id"], "json": str(out / "pixel_grid.json"), "png": str(out / "pixel_grid.png"),
              "regions": len(grid["state_space_grid"]["pixel_states"])}
    if args.json:
        print_json(result)
    else:
        print(f"pixel grid of {record['id']} ({result['regions']} regions): {result['json']}, {result['png']}")
    return 0


# -- snapshots ----------------------------------------------------------------------------------


def configure_ledger_snapshot(parser) -> None:
    parser.add_argument("source", metavar="PATH|STATE.json", help="a directory or file, or a JSON object of state")
    parser.add_argument("--type", dest="snapshot_type", default="full", help="full, incremental or token_pixel")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="where .checkpoint/ and the tar.gz go")
    parser.add_argument("--corridor", default="DISTRICT_0.CHAMBER_LEDGER.NODE_SNAPSHOT")
    parser.add_argument("--agent", help="the agent to record (default: kernel)")
    add_json_flag(parser)


def run_ledger_snapshot(args) -> int:
    from pxos_ledger.snapshot import take_snapshot

    record = take_snapshot(args.kernel, Path(args.source), args.snapshot_type, Path(args.output),
                           corridor=args.corridor, agent=args.agent)
    if args.json:
        print_json(record)
    else:
        p = record["payload"]
        print(f"{record['id']}: {p['snapshot_type']} snapshot of {p['source']}: {p['entries']} entries, "
              f"{p['tokens']} tokens{' (truncated)' if p['truncated'] else ''}; archive {p['archive']}")
    return 0
