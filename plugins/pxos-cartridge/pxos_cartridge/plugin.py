"""The pxos-cartridge plugin: ``cartridge ...`` and ``world ...`` commands, ``run PROGRAM --cartridge NAME``.

Only the kernel and the standard library are imported here; each command's
module is imported when that command runs.
"""

from __future__ import annotations

import re

from pxos_kernel import Program, Subcommand, hookimpl, lazy

COMMANDS = (
    ("pack", "pack a directory into a .pxa pixel archive"),
    ("unpack", "verify an archive and extract its members into a directory"),
    ("members", "list the members of a .pxa archive"),
    ("register", "add a .pxa to the registry as a new cartridge version"),
    ("list", "list cartridges and their versions"),
    ("show", "show one cartridge version"),
    ("test", "run a cartridge's own tests in the sandbox, and every guardrail"),
    ("promote", "make a tested cartridge version the current one"),
    ("rollback", "make an earlier version current again, through the same checks"),
    ("lineage", "show a cartridge version's ancestors"),
    ("history", "show every registry transition, refused ones too"),
)

WORLD_COMMANDS = (
    ("pack", "pack the running pxOS (kernel, plugins, dependencies) into one system cartridge"),
    ("register", "add a system cartridge to the registry as a new version"),
    ("list", "list the registered system versions"),
    ("show", "show one system version: contents, tests, guardrails, benchmarks"),
    ("test", "run every plugin's own tests and every guardrail against a system version, in the sandbox"),
    ("promote", "make a tested system version the one pxos.py boots (a named human only)"),
    ("rollback", "make an earlier system version boot again"),
    ("lineage", "show a system version's ancestors"),
    ("history", "show every system transition, refused ones too"),
)


@hookimpl
def pxos_subcommands():
    return [Subcommand(f"cartridge {name}", summary, lazy(f"pxos_cartridge.commands:run_{name}"),
                       lazy(f"pxos_cartridge.commands:configure_{name}"))
            for name, summary in COMMANDS] + [
        Subcommand(f"world {name}", summary, lazy(f"pxos_cartridge.world_commands:run_{name}"),
                   lazy(f"pxos_cartridge.world_commands:configure_{name}"))
        for name, summary in WORLD_COMMANDS]


@hookimpl
def pxos_resolve_program(spec, cartridge, kernel):
    """Resolve ``run SPEC --cartridge NAME[@VERSION]`` (or ``--cartridge path/to/file.pxa``).

    The current version runs in-process; any other version, and an
    unregistered archive file, may only run sandboxed.
    """
    if cartridge is None:
        return None
    from pxos_cartridge.registry import resolve_for_run

    archive, current, label = resolve_for_run(kernel, cartridge)
    name = re.sub(r"[^a-z0-9_.-]+", "-", f"{label}.{spec}".lower()).strip("-.")
    if not name or not name[0].isalpha():
        name = "cartridge-" + name
    return Program(name, "pxos_cartridge.launcher:main", f"{spec} from cartridge {label}",
                   leading_args=(str(archive), spec), sandbox=not current, origin=label)
