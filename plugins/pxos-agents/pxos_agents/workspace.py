"""Trying a proposal: a sandbox copy of the task's files, the proposal applied, the tests run there.

Nothing outside the copy is ever written. The copy is a fresh temporary
directory holding the task's files with the proposal's files on top; the
task's test command runs in it as a child process in its own session, with a
timeout (the whole process group is killed), ``HOME`` pointing into the copy,
and, where ``unshare -rn`` is permitted, no network. ``python``/``python3``
as the command's first word mean this interpreter.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from pxos_kernel import PxosError, network_isolation_available

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


def run_tests(root: Path, command: Sequence[str], timeout: float = 60.0) -> TestOutcome:
    """Run ``command`` in ``root`` and report whether it exited 0."""
    if not command:
        raise PxosError("the task has no test command, so its work cannot be checked")
    argv = [sys.executable if command[0] in ("python", "python3") else command[0], *command[1:]]
    isolated = network_isolation_available()
    if isolated:
        argv = [shutil.which("unshare") or "unshare", "-rn", *argv]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(root), "TMPDIR": str(root),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise PxosError(f"test command {command[0]!r} cannot start: {exc.strerror}") from None
    try:
        out, _ = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    text = out.decode("utf-8", "replace")[-OUTPUT_TAIL:]
    code = proc.returncode if not timed_out else 124
    return TestOutcome(code == 0 and not timed_out, code, text, round(time.perf_counter() - start, 3),
                       timed_out, isolated)
