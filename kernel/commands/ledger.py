"""``ledger verify`` and ``ledger repair`` (pxos-ledger adds the rest)."""

from __future__ import annotations

from pxos_kernel.commands import add_json_flag, print_json
from pxos_kernel.errors import PxosError


def configure_ledger_verify(parser) -> None:
    parser.add_argument("--from", dest="start", type=int, default=1, metavar="SEQ", help="start at this sequence")
    add_json_flag(parser)


def run_ledger_verify(args) -> int:
    report = args.kernel.ledger.verify(args.start)
    if args.json:
        print_json(report.as_dict())
    elif report.ok:
        print(f"ok: {report.records} records verified in {report.location}, head seq {report.head_seq} "
              f"hash {report.head_hash[:16]}...")
    else:
        print(f"FAILED: {report.location}: {report.problem} ({report.records} records before it are intact)")
    return 0 if report.ok else 1


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
