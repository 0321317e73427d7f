"""Run a cartridge's own tests; this is the program the registry runs in the sandbox.

Inside the sandboxed child (whose working directory is a fresh scratch
directory) the archive is verified and unpacked into ``./cartridge``, then
either the manifest's ``tests.command`` runs there, or pytest runs on the
tree in this process. The exit code is the verdict; a last line
``PXOS-CARTRIDGE-TESTS {json}`` carries the pytest outcome counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

MARKER = "PXOS-CARTRIDGE-TESTS "


class _Counter:
    """A pytest plugin counting test outcomes."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            key = report.outcome if report.when == "call" or report.outcome == "skipped" else "error"
            self.counts[key] = self.counts.get(key, 0) + 1

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.counts["error"] = self.counts.get("error", 0) + 1


def main(archive_path: str, command_json: str = "null") -> int:
    """Unpack ``archive_path`` into ./cartridge and run its tests there; return the exit code."""
    from pxos_cartridge.archive import open_archive

    command: Optional[list] = json.loads(command_json)
    tree = os.path.abspath("cartridge")
    open_archive(archive_path).extract(tree)
    sys.stdout.flush()
    if command:
        argv = [sys.executable if word == "python" else word for word in command]
        return subprocess.run(argv, cwd=tree).returncode
    import pytest

    os.chdir(tree)
    sys.path.insert(0, tree)
    counter = _Counter()
    code = int(pytest.main(["-q", "-p", "no:cacheprovider", tree], plugins=[counter]))
    sys.stdout.write("\n" + MARKER + json.dumps(counter.counts, sort_keys=True) + "\n")
    sys.stdout.flush()
    return code


def parse_counts(output: str) -> dict:
    """The counts from the last marker line of a test run's output (``{}`` when there is none)."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                counts = json.loads(line[len(MARKER):])
            except ValueError:
                return {}
            return counts if isinstance(counts, dict) else {}
    return {}
