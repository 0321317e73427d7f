"""The system cartridge as an evolution target: pxOS building the next version of itself.

The parent is a version of the system registry (``pxos``, pxos-cartridge's
:class:`~pxos_cartridge.world.SystemRegistry`). A patch may touch any
distribution in it, the kernel included: the installed code under
``site-packages/``, the tests under ``source/``. What differs from a plain
cartridge:

* **versions** are named as ``world pack`` names them, the kernel's version
  and the hash of the tree (``0.1.0+3f2a...``), so the same tree always gets
  the same name and two different candidates never share one;
* **the archive** is restaged from the patched tree
  (:func:`pxos_cartridge.system.restage`): every distribution's RECORD and
  hash are computed again, so the metadata tells the truth about the bytes;
* **the tests** are those of every distribution the patch touches, and the
  kernel's conformance suites on whatever those distributions register
  (:mod:`pxos_genesis.evolve.conformance`), each suite booted from the
  candidate by the shim in a sandboxed command of its own
  (:func:`pxos_cartridge.world.run_suites`, as ``world test`` runs them);
* **benchmarks**: each build's figures beside its parent's
  (:mod:`pxos_genesis.evolve.probes`), kept with its record for ``world show``.
"""

from __future__ import annotations

import os
import re
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any, Optional, Sequence

from pxos_genesis.evolve.patches import FileChange
from pxos_genesis.evolve.targets import COMPLIANCE_FILE, BuildFailure

SITE = "site-packages/"
SOURCE = "source/"
#: Limits of a build's sandboxed runs (the build timeout bounds them further).
TEST_LIMITS = {"memory_mb": 8192, "cpu_seconds": 7200.0}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class SystemTarget:
    """The registry's system cartridge ``pxos``."""

    kind = "system"

    def __init__(self, kernel: Any) -> None:
        from pxos_cartridge.world import SYSTEM, SystemRegistry

        self.kernel, self.name = kernel, SYSTEM
        self.systems = SystemRegistry(kernel)

    def label(self, version: str) -> str:
        return f"{self.name}@{version}"

    def versions(self) -> list[str]:
        return [r["version"] for r in self.systems.list()]

    def parent(self, version: str) -> dict:
        known = self.versions()
        if version not in known:
            raise BuildFailure("parent", f"unknown parent version {self.label(version)} "
                               f"(registered: {', '.join(known) or 'none'})")
        return self.systems.get(version)

    def archive_of(self, record: dict) -> Path:
        return Path(self.systems.archive_path(record["version"]))

    def unpack(self, parent: dict, tree: Path) -> dict:
        """Extract the parent (every member's sha256 checked) into ``tree``; its whole container metadata."""
        from pxos_cartridge.archive import open_archive

        archive = open_archive(self.archive_of(parent))
        archive.extract(tree)
        return {k: v for k, v in archive.metadata.items() if k != "members"}

    def new_version(self, tree: Path, packed: dict, build_id: str) -> tuple[str, dict]:
        """``(version, metadata)`` of the restaged tree; BuildFailure when that very system is registered."""
        from pxos_cartridge.system import restage

        try:
            _, metadata = restage(tree, packed, exclude=(COMPLIANCE_FILE,))
        except Exception as exc:  # PackError naming the file, or whatever a damaged tree raises
            raise BuildFailure("manifest", f"the patched tree cannot be staged as a system: {exc}") from None
        version = metadata["cartridge"]["version"]
        if version in self.versions():
            raise BuildFailure("manifest", f"this exact system is already registered as {self.label(version)}")
        reservations = self.kernel.state_dir("genesis", "versions", self.name)
        try:
            fd = os.open(reservations / version, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise BuildFailure("manifest", f"another build already makes this exact system ({self.label(version)})"
                               ) from None
        with os.fdopen(fd, "w") as stream:
            stream.write(build_id + "\n")
        return version, metadata

    def prepare(self, tree: Path, packed: dict, version: str, changes: Sequence[FileChange]) -> dict:
        for change in changes:
            if change.action == "create" and not change.path.startswith((SITE, SOURCE, "native/")):
                raise BuildFailure("manifest", f"the patch creates {change.path}, outside every distribution and "
                                   "test tree of the system (site-packages/, source/)")
        return packed

    def touched(self, tree: Path, changes: Sequence[FileChange], packed: dict) -> list[str]:
        """The distributions (normalised names) owning a file the patch changes, sorted."""
        tops: dict[str, str] = {}
        for info in (tree / SITE).glob("*.dist-info"):
            name = _metadata_name(info)
            for top in (info / "top_level.txt").read_text(encoding="utf-8").split() if \
                    (info / "top_level.txt").is_file() else []:
                tops[top] = name
            tops[info.name] = name
        projects = {s["project"].rstrip("/") + "/": s["distribution"]
                    for s in (packed.get("system") or {}).get("tests", [])}
        owners = set()
        for change in changes:
            path = change.path
            if path.startswith(SITE):
                first = path[len(SITE):].split("/", 1)[0]
                top = first[:-3] if first.endswith(".py") else first
                if top in tops:
                    owners.add(tops[top])
            elif path.startswith(SOURCE):
                for project, name in sorted(projects.items(), key=lambda p: -len(p[0])):
                    if path.startswith(project):
                        owners.add(name)
                        break
            elif path.startswith("native/"):
                owners.add(_normal(path.split("/")[1]))
        return sorted(owners)

    def run_tests(self, *, archive: Path, packed: dict, changes: Sequence[FileChange], tree: Path, label: str,
                  timeout: float, allow_unisolated: bool) -> dict:
        """The touched distributions' own tests and the conformance of what they register, each suite booted
        from the candidate by the shim in a sandboxed command of its own."""
        from pxos_cartridge.archive import file_sha256
        from pxos_cartridge.world import run_suites

        touched = self.touched(tree, changes, packed)
        carried = {s["distribution"] for s in (packed.get("system") or {}).get("tests", [])}
        own = [d for d in touched if d in carried]
        conformance = files("pxos_genesis.evolve").joinpath("conformance.py").read_bytes()
        extra = [("conformance", conformance, {"PXOS_CONFORMANCE": ",".join(touched)})] if touched else []
        suites = run_suites(self.kernel, archive, file_sha256(archive), label=label, distributions=own,
                            limits={**TEST_LIMITS, "timeout": timeout}, allow_unisolated=allow_unisolated,
                            extra=extra)
        counts: dict[str, int] = {}
        for suite in suites:
            for key, n in (suite.get("counts") or {}).items():
                counts[key] = counts.get(key, 0) + n
        failed = [s for s in suites if not s["passed"]]
        worst = failed[0] if failed else (suites[0] if suites else {})
        output = "\n".join(f"--- {s['distribution']}: {s['status']}\n{s.get('output', '')}" for s in failed)
        return {"passed": bool(suites) and not failed, "status": worst.get("status", "ok"),
                "exit_code": worst.get("exit_code", 0), "error": worst.get("error"),
                "command": ["world", "test", *own, "+", "conformance", *touched],
                "what": (f"the tests of {', '.join(own) or 'no distribution (none carried)'} and the conformance of "
                         f"what {', '.join(touched) or 'nothing'} register{'s' if len(touched) == 1 else ''}"),
                "counts": counts, "suites": suites, "output": output,
                "duration": round(sum(s["duration"] for s in suites), 3),
                "run_id": (failed[0] if failed else suites[0])["run_id"] if suites else None,
                "sandbox": suites[0]["sandbox"] if suites else {}, "distributions": touched}

    def pack(self, tree: Path, dest: Path, packed: dict) -> None:
        from pxos_cartridge.archive import pack_members
        from pxos_cartridge.system import restage

        members, metadata = restage(tree, packed)
        metadata["cartridge"]["version"] = packed["cartridge"]["version"]  # named before the compliance file
        pack_members(dest, members, metadata)

    def register(self, archive: Path, *, version: str, parent: str, builder: dict, notes: str,
                 breaking: bool) -> dict:
        return self.systems.register(archive, version=version, parent=parent, builder=builder, notes=notes,
                                     breaking=breaking)

    def record_tests(self, version: str, results: dict) -> dict:
        suites = ", ".join(s["distribution"] for s in results.get("suites") or []) or "no suite"
        counts = ", ".join(f"{n} {k}" for k, n in sorted((results.get("counts") or {}).items())) or "no tests"
        return self.systems.record_tests(version, {**results, "scope": "evolution build"},
                                         f"evolution build: {suites}: {counts}")

    def _probe(self, argv: list[str], *, label: str, read_only: list[str], timeout: float,
               allow_unisolated: bool) -> Any:
        """Run ``probes.py ARGV`` sandboxed (the pipeline's own script, the archives read-only)."""
        from pxos_cartridge.world import shim_path

        with as_file(files("pxos_genesis.evolve").joinpath("probes.py")) as script:
            return self.kernel.hypervisor.run_command(
                ["python", "-I", str(script), argv[0], str(shim_path()), *argv[1:]], label=label,
                limits={**TEST_LIMITS, "timeout": timeout}, allow_unisolated=allow_unisolated,
                read_only=[str(script), str(shim_path()), *read_only], site_packages=False)

    def cli_surfaces(self, parent: dict, candidate: Path, *, timeout: float,
                     allow_unisolated: bool) -> tuple[dict, dict]:
        """The commands and options of parent and candidate, each read from a process booted from it."""
        from pxos_cartridge.archive import file_sha256

        from pxos_genesis.evolve.breaking import validate
        from pxos_genesis.evolve.probes import parse

        before = self.archive_of(parent)
        run = self._probe(["cli", str(before), parent["sha256"], str(candidate), file_sha256(candidate)],
                          label="evolve build command surfaces", read_only=[str(before), str(candidate)],
                          timeout=timeout, allow_unisolated=allow_unisolated)
        found = parse(run.stdout or "", "PXOS-CLI ")
        if run.status != "ok" or not found:
            raise BuildFailure("breaking", "the commands of parent and candidate could not be read: "
                               + _last_line(run))
        try:
            return validate(found.get("parent")), validate(found.get("candidate"))
        except ValueError as exc:
            raise BuildFailure("breaking", f"the command probe answered nonsense: {exc}") from None

    def benchmarks(self, parent: dict, candidate: Path, *, rounds: int, timeout: float,
                   allow_unisolated: bool) -> dict:
        """The three figures of the candidate beside the parent's, measured in one sandboxed run."""
        from pxos_cartridge.archive import file_sha256

        from pxos_genesis.evolve.probes import parse

        before = self.archive_of(parent)
        run = self._probe(["run", str(before), parent["sha256"], str(candidate), file_sha256(candidate),
                           str(rounds)], label="evolve build benchmarks", read_only=[str(before), str(candidate)],
                          timeout=timeout, allow_unisolated=allow_unisolated)
        figures = parse(run.stdout or "")
        if run.status != "ok" or not figures:
            return {"error": "the benchmarks could not run: " + _last_line(run)}
        return figures

    def record_benchmarks(self, version: str, figures: dict) -> None:
        self.systems.record_benchmarks(version, figures)


def _last_line(run: Any) -> str:
    """How a sandboxed run ended, with the last line it printed."""
    last = ((run.stdout or "") + (run.stderr or "")).strip().splitlines()[-1:] or [run.error or "no output"]
    return f"{run.status} (exit {run.exit_code}): {last[0]}"


def _metadata_name(info: Path) -> str:
    """The normalised ``Name:`` of a dist-info directory (from its folder name when METADATA lacks one)."""
    metadata = info / "METADATA"
    if metadata.is_file():
        for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Name:"):
                return _normal(line.split(":", 1)[1].strip())
            if not line.strip():
                break
    return _normal(info.name.split("-", 1)[0])


def is_system(kernel: Any, name: Optional[str]) -> bool:
    """Whether ``name`` names the system cartridge (the system registry is pxos-cartridge's)."""
    try:
        from pxos_cartridge.world import SYSTEM
    except ImportError:  # a pxos-cartridge without a system registry has no system cartridge to evolve
        return False
    return name == SYSTEM
