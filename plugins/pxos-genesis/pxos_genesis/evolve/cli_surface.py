"""The command-line surface of a running system: every command with its options and arguments.

Unlike the rest of the contract this cannot be read from the sources, because
each command declares its arguments by running code (``configure_parser``).
So a build runs :func:`main` *inside the sandbox*, booted from the archive
being judged, and reads back its JSON; the answer is untrusted data and is
checked by :func:`validate` before it is compared with the parent's.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping

#: The largest answer accepted from a sandboxed probe (commands x options stay far below this).
MAX_SURFACE_BYTES = 1 << 20


def cli_surface(kernel: Any) -> dict[str, dict]:
    """``{command: {"options": [...], "arguments": [...]}}`` for every registered subcommand.

    A command whose ``configure_parser`` raises gets ``{"error": "..."}``
    instead, so a broken command is seen rather than silently dropped.
    """
    registry = kernel.registry("subcommand")
    surface: dict[str, dict] = {}
    for name in sorted(registry.names()):
        command = registry.get(name)
        parser = argparse.ArgumentParser(prog=name, add_help=False)
        try:
            if command.configure_parser is not None:
                command.configure_parser(parser)
        except Exception as exc:  # untrusted code declaring arguments: any failure is a finding
            surface[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        options: set[str] = set()
        arguments: set[str] = set()
        for action in parser._actions:  # argparse keeps declared actions here; there is no public accessor
            if action.option_strings:
                options.update(action.option_strings)
            elif not isinstance(action, argparse._SubParsersAction):
                arguments.add(action.dest)
        surface[name] = {"options": sorted(options), "arguments": sorted(arguments)}
    return surface


def validate(data: Any) -> dict[str, dict]:
    """``data`` as a CLI surface, or ValueError naming what is wrong with it."""
    if not isinstance(data, Mapping):
        raise ValueError(f"the command surface is a {type(data).__name__}, not a mapping")
    checked: dict[str, dict] = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not isinstance(entry, Mapping):
            raise ValueError(f"command {name!r} has no mapping of options")
        if "error" in entry:
            checked[name] = {"error": str(entry["error"])[:500]}
            continue
        lists = {key: entry.get(key, []) for key in ("options", "arguments")}
        if not all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists.values()):
            raise ValueError(f"command {name!r}: options and arguments must be lists of strings")
        checked[name] = {key: sorted(value) for key, value in lists.items()}
    return checked


def main() -> int:
    """Print this system's command surface as one JSON line (run inside the sandbox by a build)."""
    from pxos_kernel import Kernel

    kernel = Kernel()
    try:
        text = json.dumps(cli_surface(kernel), sort_keys=True)
    finally:
        kernel.close()
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
