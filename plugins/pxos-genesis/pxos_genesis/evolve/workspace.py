"""Build workspaces under ``PXOS_HOME/genesis/workspaces``, version reservations, and the limits on builds.

A workspace's path is made here from the cartridge name and a fresh build id,
never taken from a proposal, so two builds (of the same parent or not) never
share one. A build holds an exclusive lock on its workspace while it runs;
the number of held locks is the number of experiments in flight. A workspace
is removed only when its build was registered as experimental: a failed or
interrupted experiment keeps it (the patched tree, the archives, the test
log), as learning data (Genesis §3).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from pxos_kernel import ConfigError, GuardrailError, PxosError, atomic_write

_SEMVER_TAIL = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class Limits:
    """``genesis`` config: ``max_in_flight``, ``build_timeout`` (seconds), ``workspace_mb``, ``bench_rounds``."""

    max_in_flight: int = 2
    build_timeout: float = 600.0
    workspace_mb: float = 512.0
    bench_rounds: int = 3

    @classmethod
    def from_kernel(cls, kernel: Any) -> "Limits":
        settings = kernel.section("genesis")
        try:
            limits = cls(int(settings.get("max_in_flight", cls.max_in_flight)),
                         float(settings.get("build_timeout", cls.build_timeout)),
                         float(settings.get("workspace_mb", cls.workspace_mb)),
                         int(settings.get("bench_rounds", cls.bench_rounds)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"genesis limits in config.yaml are invalid: {exc}") from None
        finite = all(0 < v < float("inf") for v in (limits.build_timeout, limits.workspace_mb))
        if limits.max_in_flight < 1 or limits.bench_rounds < 1 or not finite:
            raise ConfigError("genesis.max_in_flight, build_timeout, workspace_mb and bench_rounds must be positive "
                              "and finite")
        return limits


class LimitExceeded(GuardrailError):
    """A build would break one of the evolution limits."""


class Workspace:
    """One build's private directory, locked while the build runs."""

    def __init__(self, root: Path, build_id: str) -> None:
        self.root, self.build_id = root, build_id
        self.path = root / build_id
        self.tree = self.path / "tree"
        self._lock: Optional[int] = None

    @classmethod
    def claim(cls, kernel: Any, cartridge: str, limits: Limits) -> "Workspace":
        """A fresh workspace, or LimitExceeded when ``max_in_flight`` builds already run."""
        root = kernel.state_dir("genesis", "workspaces")
        with open(root / ".claim.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)  # count and claim as one step across processes
            running = [p.name for p in root.iterdir() if p.is_dir() and _locked(p / ".lock")]
            if len(running) >= limits.max_in_flight:
                raise LimitExceeded(f"{len(running)} experiment(s) already in flight ({', '.join(sorted(running))}); "
                                    f"the limit genesis.max_in_flight is {limits.max_in_flight}")
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            workspace = cls(root, f"{cartridge}-{stamp}-{uuid.uuid4().hex[:8]}")
            workspace.path.mkdir()
            workspace._lock = os.open(workspace.path / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(workspace._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return workspace

    @staticmethod
    def running(kernel: Any, build_id: str) -> bool:
        """Whether the build ``build_id`` still holds its workspace (its process is alive)."""
        return _locked(kernel.state_dir("genesis", "workspaces") / build_id / ".lock")

    def check_size(self, limits: Limits, what: str) -> int:
        """The workspace's size in bytes; LimitExceeded above ``workspace_mb``."""
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file() and not p.is_symlink())
        if size > limits.workspace_mb * 1024 * 1024:
            raise LimitExceeded(f"workspace {self.build_id} holds {size / 1048576:.1f} MB {what}, over the "
                                f"genesis.workspace_mb limit of {limits.workspace_mb:g} MB")
        return size

    def save(self, name: str, data: Any) -> Path:
        """Write ``name`` in the workspace (text, bytes, or JSON for anything else), atomically."""
        path = self.path / name
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, bytes):
            data = (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
        atomic_write(path, data)
        return path

    def finish(self, *, keep: bool) -> None:
        """Unlock; remove the workspace unless ``keep`` (a failed or interrupted experiment keeps it)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if keep:
            return
        if self.path.parent != self.root or not self.path.name.startswith(self.build_id):
            raise PxosError(f"refusing to remove {self.path}: not a workspace of this build")
        shutil.rmtree(self.path, ignore_errors=True)


def reserve_version(kernel: Any, name: str, parent: str, registered: Iterable[str], build_id: str) -> str:
    """The parent's version with its last number raised until unused (``1.0.0`` -> ``1.0.1``), reserved.

    A reservation is a file created exclusively under ``genesis/versions/NAME/``,
    so two builds of one parent at once get two versions, and a version a failed
    build once held is never handed out again.
    """
    root = kernel.state_dir("genesis", "versions", name)
    taken = set(registered)
    match = _SEMVER_TAIL.match(parent)
    head, number = (match.group(1), int(match.group(2))) if match else (parent + ".", 0)
    while True:
        number += 1
        candidate = f"{head}{number}"
        if candidate in taken:
            continue
        try:
            fd = os.open(root / candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as stream:
            stream.write(build_id + "\n")
        return candidate


class Deadline:
    """The build timeout, shared by every step of one build."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def remaining(self, step: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise LimitExceeded(f"the build ran out of time before {step} (genesis.build_timeout is "
                                f"{self.seconds:g} s)")
        return left


def _locked(path: Path) -> bool:
    """Whether another build holds the lock at ``path``."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
