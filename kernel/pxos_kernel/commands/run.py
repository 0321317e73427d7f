"""``pxos-kernel run PROGRAM [--sandbox] [--timeout S] [-- ARGS...]``."""

from __future__ import annotations

import os
import sys

from pxos_kernel.output import add_sandbox_flags, print_json, sandbox_flags


def configure_run(parser) -> None:
    parser.add_argument("program", help="a registered program name or package.module:function")
    parser.add_argument("args", nargs="*", help="arguments for the program (put them after --)")
    parser.add_argument("--cartridge", metavar="NAME", help="run the program from this cartridge")
    parser.add_argument("--sandbox", action="store_true",
                        help="run it isolated: its own view of the files, no network, limits on the whole tree")
    parser.add_argument("--read", action="append", default=[], metavar="PATH",
                        help="show this file or directory to the sandboxed program, read-only (repeatable)")
    add_sandbox_flags(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run_run(args) -> int:
    program_args = [*args.args, *args.rest]
    if os.getcwd() not in sys.path:  # `run mymodule:main` finds modules in the current directory, like python -m
        sys.path.insert(0, os.getcwd())
    result = args.kernel.hypervisor.run_program(args.program, program_args, cartridge=args.cartridge,
                                                sandbox=args.sandbox, limits=sandbox_flags(args),
                                                allow_unisolated=args.allow_unisolated,
                                                read_only=[os.path.abspath(p) for p in args.read])
    if result.sandboxed and result.protections.get("filesystem") == "none":
        print("pxos-kernel: warning: no filesystem isolation here: the sandboxed program could read and write "
              "your files (pxos-kernel inspect says why)", file=sys.stderr)
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
            "cpu": "exceeded its CPU limit: ", "pids": "reached its process limit: ",
            "killed": "was "}.get(result.status, "") + (result.error or "")
