"""What a build changes: a cartridge of the registry, or the system cartridge that pxOS itself runs from.

The build pipeline (:mod:`pxos_genesis.evolve.build`) is the same for both;
a target says where the parent comes from, how the patched tree becomes a
manifest and an archive, which tests judge it, and where the result is
registered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Sequence

from pxos_genesis.evolve.patches import FileChange

COMPLIANCE_FILE = "GENESIS_COMPLIANCE.md"
_VERSION_LINE = re.compile(r"^version:.*$", re.M)


class BuildFailure(Exception):
    """A build cannot go on; ``stage`` is where, ``reason`` is the one line a user reads."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage, self.reason = stage, reason


class CartridgeTarget:
    """A cartridge of the registry, tested by its own manifest's test command."""

    kind = "cartridge"

    def __init__(self, kernel: Any, name: str) -> None:
        from pxos_genesis.subject import registry

        self.kernel, self.name = kernel, name
        self.registry = registry(kernel)

    def label(self, version: str) -> str:
        return f"{self.name}@{version}"

    def parent(self, version: str) -> dict:
        """The parent's registry record; BuildFailure when it is not registered."""
        known = [r["version"] for r in self.registry.list(self.name)]
        if version not in known:
            raise BuildFailure("parent", f"unknown parent version {self.label(version)} "
                               f"(registered: {', '.join(known) or 'none'})")
        return self.registry.get(self.name, version)

    def versions(self) -> list[str]:
        return [r["version"] for r in self.registry.list(self.name)]

    def unpack(self, parent: dict, tree: Path) -> dict:
        """Extract the parent's archive (sha256-verified member by member) into ``tree``; its manifest."""
        from pxos_cartridge.archive import open_archive

        archive = open_archive(self.registry.archive_path(self.name, parent["version"]))
        archive.extract(tree)
        return dict(archive.manifest or {})

    def prepare(self, tree: Path, packed: dict, version: str, changes: Sequence[FileChange]) -> dict:
        """The manifest to pack with: the tree's (as patched) carrying ``version``, always packing
        GENESIS_COMPLIANCE.md; BuildFailure for a manifest that does not load or would drop a new file."""
        from pxos_cartridge.manifest import DEFAULT_EXCLUDES, find_manifest, load_manifest, selected

        from pxos_kernel import atomic_write

        path = find_manifest(tree)
        try:
            manifest = load_manifest(path) if path else dict(packed)
        except Exception as exc:  # PackError with the YAML problem, or anything a broken manifest raises
            raise BuildFailure("manifest", f"the patched manifest does not load: {exc}") from None
        if path is not None:
            text = path.read_text(encoding="utf-8")
            line = f"version: {version}"
            text = _VERSION_LINE.sub(line, text, count=1) if _VERSION_LINE.search(text) else text + f"\n{line}\n"
            atomic_write(path, text.encode("utf-8"))  # the tree says what the archive says, comments kept
        manifest["version"] = version
        include, exclude = list(manifest.get("include") or []), [*DEFAULT_EXCLUDES, *manifest.get("exclude", [])]
        if include and COMPLIANCE_FILE not in include:
            manifest["include"] = include + [COMPLIANCE_FILE]  # the declaration is always packed
        if COMPLIANCE_FILE in manifest.get("exclude", []):
            manifest["exclude"] = [p for p in manifest["exclude"] if p != COMPLIANCE_FILE]
        for change in changes:
            if change.action == "create" and not selected(change.path, include, exclude):
                raise BuildFailure("manifest", f"the patch creates {change.path}, which the manifest's include/"
                                   "exclude lists leave out of the archive")
        return manifest

    def new_version(self, tree: Path, packed: dict, build_id: str) -> tuple[str, dict]:
        """The parent's version with its last number raised, reserved for this build; the manifest as packed."""
        from pxos_genesis.evolve.workspace import reserve_version

        parent = str(packed.get("version") or "0")
        return reserve_version(self.kernel, self.name, parent, self.versions(), build_id), packed

    def run_tests(self, *, archive: Path, packed: dict, changes: Sequence[FileChange], tree: Path, label: str,
                  timeout: float, allow_unisolated: bool) -> dict:
        """The cartridge's own test command, sandboxed in its unpacked archive."""
        from pxos_cartridge.testrun import DEFAULT_COMMAND, parse_counts, run_tests

        command = list((packed.get("tests") or {}).get("command") or DEFAULT_COMMAND)
        run = run_tests(self.kernel, archive, command, label=label, limits={"timeout": timeout},
                        allow_unisolated=allow_unisolated)
        output = run.stdout or ""
        return {"passed": run.status == "ok" and run.exit_code == 0, "status": run.status,
                "exit_code": run.exit_code, "error": run.error, "command": command,
                "what": "the cartridge's own tests", "counts": parse_counts(output), "output": output,
                "duration": round(run.duration, 3), "run_id": run.post_id, "sandbox": run.protections}

    def pack(self, tree: Path, dest: Path, manifest: dict) -> None:
        from pxos_cartridge.archive import pack_tree

        pack_tree(tree, dest, manifest=manifest)

    def register(self, archive: Path, *, version: str, parent: str, builder: dict, notes: str,
                 breaking: bool) -> dict:
        return self.registry.register(archive, name=self.name, version=version, parent=parent,
                                      builder=builder, notes=notes, breaking=breaking)

    def record_tests(self, version: str, results: dict) -> dict:
        return self.registry.record_tests(self.name, version, results)


def target_for(kernel: Any, name: str) -> Any:
    """The target a proposal names: the system cartridge, or a cartridge of the registry."""
    from pxos_genesis.evolve.system import SystemTarget, is_system

    return SystemTarget(kernel) if is_system(kernel, name) else CartridgeTarget(kernel, name)


def first_error_line(output: str) -> Optional[str]:
    """The line of a test log that says what went wrong first (``E   ...``, an ``Error:``), if any."""
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("E   ") or re.match(r"^[A-Za-z_.]*(Error|Exception)\b[^(]*:", stripped):
            return stripped[4:].strip() if stripped.startswith("E   ") else stripped
    return None
