"""``ledger verify``, ``ledger seal`` and ``ledger repair`` (pxos-ledger adds the rest)."""

from __future__ import annotations

import json

from pxos_kernel.output import add_json_flag, print_json
from pxos_kernel.errors import LedgerError, PxosError


def configure_ledger_verify(parser) -> None:
    parser.add_argument("--from", dest="start", type=int, default=1, metavar="SEQ", help="start at this sequence")
    parser.add_argument("--head", metavar="FILE", help="also check against a head written by 'ledger seal' "
                        "(detects records cut from the tail)")
    add_json_flag(parser)


def run_ledger_verify(args) -> int:
    ledger = args.kernel.ledger
    head = _read_head(args.head) if args.head else None
    report = ledger.verify(args.start)
    result = report.as_dict()
    head_problem = ledger.check_head(head) if head is not None and report.ok else None
    if head is not None:
        result["head_check"] = {"file": args.head, "tree_size": head.get("tree_size"),
                                "signed": head.get("signed"), "ok": report.ok and head_problem is None,
                                "problem": head_problem}
    ok = report.ok and head_problem is None
    result["ok"] = ok
    if args.json:
        print_json(result)
    elif not report.ok:
        print(f"FAILED: {report.location}: {report.problem} ({report.records} records before it are intact)")
    elif head_problem:
        print(f"FAILED: {report.location}: against the sealed head {args.head}: {head_problem}")
    else:
        sealed = f"; matches the sealed head of {head['tree_size']} records" if head is not None else ""
        print(f"ok: {report.records} records verified in {report.location}, head seq {report.head_seq} "
              f"hash {report.head_hash[:16]}...{sealed}")
    return 0 if ok else 1


def _read_head(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            head = json.load(stream)
    except OSError as exc:
        raise LedgerError(f"sealed head {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise LedgerError(f"sealed head {path}: not JSON ({exc})") from None
    if not isinstance(head, dict) or head.get("format") != "pxos-ledger-head":
        raise LedgerError(f"sealed head {path}: not a pxos-ledger-head document")
    return head


def configure_ledger_seal(parser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="where to write the head (default PXOS_HOME/ledger/heads/head-<size>.json)")
    add_json_flag(parser)


def run_ledger_seal(args) -> int:
    from pxos_kernel.canonical import canonical_json
    from pxos_kernel.files import atomic_write

    head = args.kernel.ledger.seal()
    path = args.output or str(args.kernel.state_dir("ledger", "heads") / f"head-{head['tree_size']:06d}.json")
    atomic_write(path, (canonical_json(head) + "\n").encode("utf-8"))
    if args.json:
        print_json({**head, "file": path})
    else:
        kind = "signed (HMAC)" if head["signed"] else "unsigned (no HMAC key configured; digest only)"
        print(f"sealed {head['tree_size']} records, root {head['root'][:16]}..., {kind}: {path}")
    return 0


def configure_ledger_repair(parser) -> None:
    add_json_flag(parser)


def run_ledger_repair(args) -> int:
    sink = args.kernel.ledger.sink
    if not hasattr(sink, "repair"):
        raise PxosError(f"the ledger sink at {args.kernel.ledger.location} cannot be repaired by the kernel")
    report = sink.repair()
    if args.json:
        print_json(report)
    elif report["removed_bytes"]:
        print(f"set aside {report['removed_bytes']} damaged bytes after record {report['kept_records']} "
              f"into {report['saved_to']}")
    else:
        print(f"nothing to repair: {report['kept_records']} complete records")
    return 0
