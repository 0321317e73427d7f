"""Running a cartridge's own test command; called inside the kernel's sandbox child.

The hypervisor runs :func:`run_tests` sandboxed (a child process with limits,
a scrubbed environment and, where possible, no network, in a fresh scratch
directory). It unpacks the candidate archive there, so the tests exercise
exactly the bytes that will be registered, runs the test command in that
tree and passes its exit code and output through.
"""

from __future__ import annotations

import re
import subprocess
import sys

DEFAULT_COMMAND = ("python", "-m", "pytest", "-q")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def run_tests(archive: str, *command: str) -> int:
    """Unpack ``archive`` into ./cartridge and run ``command`` there (``python`` means this interpreter)."""
    import os

    from pxos_cartridge.archive import open_archive

    tree = os.path.abspath("cartridge")
    open_archive(archive).extract(tree)
    argv = [sys.executable if part == "python" else part for part in (command or DEFAULT_COMMAND)]
    done = subprocess.run(argv, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(done.stdout)
    sys.stdout.flush()
    return done.returncode


def counts(output: str) -> dict:
    """pytest's summary counts (``{"passed": 3, "failed": 1}``), from the last summary line that has any."""
    for line in reversed(output.splitlines()):
        found = _COUNT.findall(line)
        if found:
            return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in found}
    return {}
