"""Running a cartridge's own tests in the kernel's sandbox (public API, also used by pxos-genesis).

The archive is verified and unpacked into a fresh directory, and its test
command (the manifest's ``tests.command``, else pytest) runs there through
:meth:`kernel.hypervisor.run_command <pxos_kernel.run.run_command>`: the
unpacked tree is the only place of the machine's files the tests see (not
even the archive, which stays in PXOS_HOME). The exit
code is the verdict; :func:`parse_counts` reads pytest's summary line for the
record::

    from pxos_cartridge.testrun import parse_counts, run_tests

    run = run_tests(kernel, "greeter.pxa", label="cartridge test greeter@1.0", limits={"timeout": 120})
    print(run.status, run.exit_code, parse_counts(run.stdout))
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

#: What runs when the manifest names no test command (``python`` is the running interpreter).
DEFAULT_COMMAND = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def run_tests(kernel: Any, archive: str | Path, command: Optional[Sequence[str]] = None, *, label: str,
              limits: Optional[Mapping[str, Any]] = None, allow_unisolated: bool = False) -> Any:
    """Unpack ``archive`` and run ``command`` in it, sandboxed; the kernel's RunResult (stdout holds both streams).

    Refused with :class:`~pxos_kernel.sandbox.SandboxUnavailable` where no
    filesystem isolation works, unless ``allow_unisolated``.
    """
    from pxos_cartridge.archive import open_archive

    work = Path(tempfile.mkdtemp(prefix="pxos-cartridge-test-"))
    try:
        tree = work / "cartridge"
        open_archive(archive).extract(tree)
        argv = list(command or DEFAULT_COMMAND)
        result = kernel.hypervisor.run_command(argv, label=label, cwd=str(tree), writable=[str(tree)], limits=limits,
                                               allow_unisolated=allow_unisolated,
                                               details={"archive": str(archive)})
        result.stdout = (result.stdout or "") + (result.stderr or "")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_counts(output: str) -> dict:
    """pytest's summary counts (``{"passed": 3, "failed": 1}``) from the last summary line that has any."""
    for line in reversed((output or "").splitlines()):
        found = _COUNT.findall(line)
        if found:
            return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in found}
    return {}
