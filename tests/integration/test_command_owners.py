"""The authoring guide says which distribution gives each command group; the registry agrees."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "authoring.md"


def documented() -> dict[str, str]:
    """Top-level command word -> distribution, from the guide's table (groups split across plugins omitted)."""
    text = GUIDE.read_text(encoding="utf-8").split("## Which plugin gives which command", 1)[1].split("\n## ", 1)[0]
    owners: dict[str, set[str]] = {}
    for cells, dist in re.findall(r"^\| (.+?) \| (pxos-[a-z0-9-]+)", text, re.M):
        for word in re.findall(r"`([a-z-]+)", cells):
            owners.setdefault(word, set()).add(dist)
    return {word: next(iter(dists)) for word, dists in owners.items() if len(dists) == 1}


def test_every_command_group_is_documented_with_its_distribution(pxos_kernel):
    registry = pxos_kernel.registry("subcommand")
    actual: dict[str, set[str]] = {}
    for name in registry.names():
        actual.setdefault(name.split()[0], set()).add(pxos_kernel.plugins.info[registry.owner(name)].distribution)
    table = documented()
    for word, dists in actual.items():
        if len(dists) == 1:
            assert table.get(word) == next(iter(dists)), f"docs/authoring.md: `{word}` comes from {dists}"
