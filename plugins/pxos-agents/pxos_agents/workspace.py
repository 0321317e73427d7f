"""Trying a proposal: a copy of the task's files, the proposal applied, the tests run there in the sandbox.

Nothing outside the copy is ever written. The copy is a fresh temporary
directory holding the task's files with the proposal's files on top; the
task's test command runs in it through the kernel's sandbox
(:meth:`kernel.hypervisor.run_command <pxos_kernel.run.run_command>`): the
copy is the only writable place it sees and nothing else of the machine's
files exists for it, the whole process tree dies at the timeout, memory, CPU
and process count are bounded, and there is no network. ``python``/``python3``
as the command's first word mean this interpreter. Where no filesystem
isolation works, the run is refused unless the user allowed it.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel import PxosError

OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class TestOutcome:
    """What the task's test command did in the sandbox copy."""

    passed: bool
    exit_code: int
    output: str
    duration: float
    timed_out: bool
    network_isolated: bool

    def as_dict(self) -> dict:
        return asdict(self)


def safe_path(path: str) -> PurePosixPath:
    """A relative path inside the copy; refuses absolute paths and ``..``."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise PxosError(f"file path {path!r} is not a relative path inside the task (absolute or '..')")
    return pure


def make_copy(files: Mapping[str, str], changes: Mapping[str, str]) -> Path:
    """A new directory with ``files`` and then ``changes`` written into it."""
    for path in list(files) + list(changes):
        safe_path(path)
    root = Path(tempfile.mkdtemp(prefix="pxos-agents-try-"))
    for path, text in {**files, **changes}.items():
        target = root / safe_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def run_tests(kernel: Any, root: Path, command: Sequence[str], timeout: float = 60.0, *,
              allow_unisolated: bool = False, limits: Optional[Mapping[str, Any]] = None) -> TestOutcome:
    """Run ``command`` in ``root``, sandboxed, and report whether it exited 0."""
    if not command:
        raise PxosError("the task has no test command, so its work cannot be checked")
    argv = ["python" if command[0] == "python3" else command[0], *command[1:]]
    run = kernel.hypervisor.run_command(argv, label=f"agent task tests ({command[0]})", cwd=str(root),
                                        writable=[str(root)], limits={**(limits or {}), "timeout": timeout},
                                        allow_unisolated=allow_unisolated)
    text = ((run.stdout or "") + (run.stderr or ""))[-OUTPUT_TAIL:]
    return TestOutcome(run.status == "ok", run.exit_code, text, round(run.duration, 3), run.status == "timeout",
                       run.protections.get("network") == "isolated")
