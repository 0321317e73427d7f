"""``pxos-kernel run PROGRAM [--sandbox] [--timeout S] [-- ARGS...]``."""

from __future__ import annotations

import os
import sys

from pxos_kernel.output import print_json


def configure_run(parser) -> None:
    parser.add_argument("program", help="a registered program name or package.module:function")
    parser.add_argument("args", nargs="*", help="arguments for the program (put them after --)")
    parser.add_argument("--cartridge", metavar="NAME", help="run the program from this cartridge")
    parser.add_argument("--sandbox", action="store_true", help="run in a child process with limits and no network")
    parser.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds (sandbox)")
    parser.add_argument("--memory-mb", type=int, metavar="MB", help="address-space limit (sandbox)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_run(args) -> int:
    program_args = [*args.args, *args.rest]
    if os.getcwd() not in sys.path:  # `run mymodule:main` finds modules in the current directory, like python -m
        sys.path.insert(0, os.getcwd())
    limits = {"memory_mb": args.memory_mb} if args.memory_mb else None
    result = args.kernel.hypervisor.run_program(args.program, program_args, cartridge=args.cartridge,
                                                sandbox=args.sandbox, timeout=args.timeout, limits=limits)
    if args.json:
        print_json(result.as_dict())
    elif result.value is not None:
        print(result.value)
    if result.status not in ("ok", "failed"):
        print(f"pxos-kernel: error: program {result.program!r} {_describe(result)} (ledger {result.post_id})",
              file=sys.stderr)
    return result.exit_code


def _describe(result) -> str:
    return {"error": "raised ", "timeout": "timed out: ", "memory": "ran out of memory: ",
            "cpu": "exceeded its CPU limit: ", "killed": "was "}.get(result.status, "") + (result.error or "")
