"""The first code a sandboxed child runs: call the program, report its value or its error, exit.

Imported by a fresh ``python -I`` (see :func:`pxos_kernel.sandbox.run_program`),
so it imports as little as possible: start-up time is most of a sandboxed run.
The limits are already in force (set by the supervisor before ``exec``). The
exit status is the verdict; the report file only carries the value of a
program that exited 0, or the error message of one that raised (exit 1).
"""

from __future__ import annotations

import json
import os
import sys

from pxos_kernel.programcall import call_program, load_entry


def main(spec: dict) -> None:
    """Run inside the sandboxed child: call ``spec["entry"]`` with ``spec["args"]``, report, exit."""
    try:
        status, code, value, error = call_program(load_entry(spec["entry"]), spec["args"])
    except MemoryError:
        status, code, value, error = "memory", 1, None, "MemoryError: the program ran out of memory"
    except Exception as exc:
        status, code, value, error = "error", 1, None, str(exc)
    if status == "ok":
        try:
            report = json.dumps({"value": value})
        except (TypeError, ValueError):
            report = json.dumps({"value": repr(value)})
    elif status in ("error", "memory"):
        report, code = json.dumps({"kind": status, "error": error or status}), 1
    else:
        report = None
    sys.stdout.flush()
    sys.stderr.flush()
    if report is not None:
        with open(spec["result"], "w", encoding="utf-8") as stream:
            stream.write(report)
    os._exit(code if 0 <= code < 256 else 1)  # no atexit handler of the program's runs after the verdict


if __name__ == "__main__":  # how the boot shim starts a child on a system cartridge (pxos_kernel.system)
    sys.modules.setdefault("pxos_kernel.sandbox_child", sys.modules[__name__])  # the child knows what it is
    child = json.loads(sys.argv[1])
    sys.path[:0] = child["path"]  # after the archive's finder, which answers for pxOS first
    main(child)
