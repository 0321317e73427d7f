"""The first code a sandboxed child runs: apply the limits, call the program, report.

Imported by a fresh ``python -I`` (see :mod:`pxos_kernel.sandbox`), so it imports
as little as possible: start-up time is most of a sandboxed run.
"""

from __future__ import annotations

import json
import resource
import sys

from pxos_kernel.programcall import call_program, load_entry


def main(spec: dict) -> None:
    """Run inside the sandboxed child: apply limits, call the program, write the outcome."""
    resource.setrlimit(resource.RLIMIT_AS, (spec["memory"], spec["memory"]))
    resource.setrlimit(resource.RLIMIT_CPU, (spec["cpu"], spec["cpu"] + 1))
    try:
        status, code, value, error = call_program(load_entry(spec["entry"]), spec["args"])
    except MemoryError:
        status, code, value, error = "memory", 137, None, "MemoryError: the memory limit was reached"
    except Exception as exc:
        status, code, value, error = "error", 1, None, str(exc)
    if status == "memory":
        error = f"{error} (limit {spec['memory'] // (1024 * 1024)} MB)"
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = repr(value)
    sys.stdout.flush()
    with open(spec["result"], "w", encoding="utf-8") as stream:
        json.dump({"status": status, "exit_code": code, "value": value, "error": error}, stream)
    sys.exit(code if 0 <= code < 256 else 1)
