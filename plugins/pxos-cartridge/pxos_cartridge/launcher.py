"""The entry point of a program run from a cartridge: install the importer, then call the target.

The hypervisor runs ``pxos_cartridge.launcher:main`` with two leading
arguments, the archive path and the target, either in-process (a ``current``
cartridge) or in a sandboxed child (anything else); in both cases the
archive is opened and verified here, in the process that runs the code.
"""

from __future__ import annotations

from typing import Any

from pxos_kernel import NotFoundError, ProgramError


def resolve_target(manifest: dict, target: str) -> str:
    """``module:function`` for ``target``: itself if it has a colon, else a program named in the manifest."""
    if ":" in target:
        return target
    programs = manifest.get("programs") or {}
    if target not in programs:
        known = ", ".join(sorted(programs)) or "none"
        raise NotFoundError(f"cartridge has no program {target!r} (its programs: {known}; "
                            "or give package.module:function)")
    return programs[target]


def main(archive_path: str, target: str, *args: str) -> Any:
    """Run ``target`` from the archive at ``archive_path`` with ``args``; return what it returns."""
    from pxos_kernel import load_entry

    from pxos_cartridge.importer import install

    finder = install(archive_path)
    entry = resolve_target(finder.archive.manifest, target)
    module = entry.partition(":")[0]
    if module.split(".")[0] not in {name.split(".")[0] for name in finder.modules()}:
        raise ProgramError(f"program {entry!r}: module {module!r} is not in the cartridge {archive_path}")
    return load_entry(entry)(*args)
