"""Limits on a whole process tree through a cgroup: memory, process count, CPU time, and killing it.

An rlimit binds one process; a cgroup binds every process in it, and every
child is born into its parent's cgroup, so a cgroup is how a sandboxed tree
gets one memory budget and one process cap whatever it forks. Each sandboxed
run gets a fresh child cgroup of this process's own, per resource:

* **cgroup v2** where the unified hierarchy has the controller enabled for us
  (``memory.max``, ``memory.swap.max``, ``pids.max``; ``cpu.stat`` and
  ``cgroup.kill``);
* otherwise **cgroup v1** where that controller's hierarchy is mounted and
  writable (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``,
  ``pids.max``, ``cpuacct.usage``).

Resources with neither fall back to per-process rlimits (see
:mod:`pxos_kernel.sandbox`), and :func:`probe` says so. The child joins the
cgroups between ``fork`` and ``exec`` (:meth:`TreeCgroup.join`), so nothing it
starts is ever outside them.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

PREFIX = "pxos-sandbox-"
RESOURCES = ("memory", "pids", "cpu")
_V1_CONTROLLER = {"memory": "memory", "pids": "pids", "cpu": "cpuacct"}


@dataclass(frozen=True)
class Hierarchy:
    """Where this process's own cgroup is for one resource, and which cgroup version serves it."""

    resource: str
    version: int
    directory: Path  # this process's cgroup; sandbox cgroups are made inside it

    def describe(self) -> str:
        files = {("memory", 2): "memory.max", ("memory", 1): "memory.limit_in_bytes", ("pids", 2): "pids.max",
                 ("pids", 1): "pids.max", ("cpu", 2): "cpu.stat", ("cpu", 1): "cpuacct.usage"}
        return f"cgroup v{self.version} {files[self.resource, self.version]} under {self.directory}"


def _mounts() -> tuple[Optional[Path], dict[str, tuple[Path, str]]]:
    """The cgroup2 mount point, and each v1 controller's mount point with the hierarchy path it shows."""
    unified: Optional[Path] = None
    v1: dict[str, tuple[Path, str]] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None, {}
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point, fstype = fields[3], Path(fields[4]), tail[0]
        if fstype == "cgroup2" and unified is None:
            unified = point
        elif fstype == "cgroup":
            for option in tail[2].split(","):
                v1.setdefault(option, (point, root))
    return unified, v1


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller name, and ``""`` for the unified hierarchy."""
    paths = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _v2_enables(directory: Path, controller: str) -> bool:
    """Whether children of ``directory`` get ``controller`` (enabling it where we may)."""
    try:
        if controller not in (directory / "cgroup.controllers").read_text().split():
            return False
        if controller in (directory / "cgroup.subtree_control").read_text().split():
            return True
        (directory / "cgroup.subtree_control").write_text(f"+{controller}")
        return True
    except OSError:  # EBUSY: our cgroup holds processes and is not the root ("no internal processes")
        return False


def hierarchies() -> dict[str, Hierarchy]:
    """For each of memory, pids and cpu: the writable cgroup that can bound a tree here, if any."""
    unified, v1 = _mounts()
    own = _own_paths()
    found: dict[str, Hierarchy] = {}
    if unified is not None and "" in own:
        directory = unified / own[""].lstrip("/")
        if _writable_dir(directory):
            if _v2_enables(directory, "memory"):
                found["memory"] = Hierarchy("memory", 2, directory)
            if _v2_enables(directory, "pids"):
                found["pids"] = Hierarchy("pids", 2, directory)
            if (directory / "cpu.stat").exists():
                found["cpu"] = Hierarchy("cpu", 2, directory)
    for resource in RESOURCES:
        controller = _V1_CONTROLLER[resource]
        if resource in found or controller not in v1 or controller not in own:
            continue
        point, root = v1[controller]
        relative = os.path.relpath(own[controller], root) if own[controller].startswith(root) else None
        if relative is None:
            continue
        directory = (point / relative).resolve() if relative != "." else point
        if _writable_dir(directory):
            found[resource] = Hierarchy(resource, 1, directory)
    return found


class TreeCgroup:
    """The cgroups of one sandboxed run: create, let the child join, read, kill everything, remove."""

    def __init__(self, directories: dict[str, tuple[int, Path]]) -> None:
        self.directories = directories  # resource -> (version, directory)
        unique = {path for _, path in directories.values()}
        #: The ``cgroup.procs`` file of each distinct cgroup directory: what a new member writes "0" to.
        self.procs_files = [os.fsencode(path / "cgroup.procs") for path in sorted(unique)]

    @classmethod
    def create(cls, memory_bytes: int, processes: int,
               available: Optional[dict[str, Hierarchy]] = None) -> Optional["TreeCgroup"]:
        """Fresh cgroups with these limits, one per resource that has a writable hierarchy (None: none has)."""
        available = hierarchies() if available is None else available
        name = f"{PREFIX}{os.getpid()}-{time.monotonic_ns()}"
        made: dict[Path, Path] = {}
        directories: dict[str, tuple[int, Path]] = {}
        try:
            for resource, hierarchy in available.items():
                if hierarchy.directory not in made:
                    _remove_stale(hierarchy.directory)
                    made[hierarchy.directory] = hierarchy.directory / name
                    made[hierarchy.directory].mkdir()
                directories[resource] = (hierarchy.version, made[hierarchy.directory])
        except OSError:
            for path in made.values():
                _rmdir(path)
            return None
        tree = cls(directories)
        try:
            tree._set_limits(memory_bytes, processes)
        except OSError:
            tree.remove()
            return None
        return tree if directories else None

    def _set_limits(self, memory_bytes: int, processes: int) -> None:
        if "memory" in self.directories:
            version, path = self.directories["memory"]
            if version == 2:
                (path / "memory.max").write_text(str(memory_bytes))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(str(memory_bytes))
                if (path / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit either
                    (path / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        if "pids" in self.directories:
            (self.directories["pids"][1] / "pids.max").write_text(str(processes))

    def join(self) -> None:
        """Move the calling process into every cgroup of this run (call it between fork and exec)."""
        for procs in self.procs_files:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def cpu_seconds(self) -> Optional[float]:
        """CPU time used so far by the whole tree."""
        if "cpu" not in self.directories:
            return None
        version, path = self.directories["cpu"]
        try:
            if version == 1:
                return int((path / "cpuacct.usage").read_text()) / 1e9
            stat = dict(line.split() for line in (path / "cpu.stat").read_text().splitlines() if line)
            return int(stat["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            return None

    def oom_kills(self) -> int:
        """How many processes of the tree the kernel killed for reaching the memory limit."""
        if "memory" not in self.directories:
            return 0
        version, path = self.directories["memory"]
        return _counter(path / ("memory.events" if version == 2 else "memory.oom_control"), "oom_kill")

    def pids_refused(self) -> int:
        """How many forks the process cap refused."""
        if "pids" not in self.directories:
            return 0
        return _counter(self.directories["pids"][1] / "pids.events", "max")

    def members(self) -> set[int]:
        pids: set[int] = set()
        for procs in self.procs_files:
            try:
                pids.update(int(p) for p in Path(os.fsdecode(procs)).read_text().split())
            except (OSError, ValueError):
                pass
        return pids

    def kill(self) -> None:
        """SIGKILL every process in the tree (``cgroup.kill`` where the kernel has it)."""
        for _, path in self.directories.values():
            if (path / "cgroup.kill").exists():
                try:
                    (path / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for _ in range(100):  # v1: kill what is there until nothing is left (a fork may race one round)
            members = self.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)

    def remove(self) -> None:
        """Remove the cgroups (after :meth:`kill`); one still busy is left for the next run to remove."""
        for path in {path for _, path in self.directories.values()}:
            _rmdir(path)


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _rmdir(path: Path) -> None:
    for _ in range(50):  # a killed tree leaves the cgroup a moment after its last process is reaped
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.005)


def _remove_stale(parent: Path) -> None:
    """Kill what is left in sandbox cgroups whose supervisor is gone (it was SIGKILLed), and remove them."""
    try:
        entries = [p for p in parent.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return
    for path in entries:
        pid = path.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            TreeCgroup({"stale": (1, path)}).kill()
            _rmdir(path)
