"""The Genesis principles as data, read from ``genesis.yaml``.

The manifest is package data of pxos-genesis (``pxos_genesis/genesis.yaml``),
read through :mod:`importlib.resources` so that it is found inside a system
cartridge too. ``PXOS_GENESIS`` names another file, e.g. a newer Genesis
version under review.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Union

from pxos_kernel import ConfigError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

Source = Union[Path, "Traversable"]

LEVELS = ("must", "should", "may")
_ITEM_ID = re.compile(r"^G(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Item:
    """One requirement of one principle, e.g. ``G8.1``."""

    id: str
    principle: int
    principle_name: str
    level: str
    text: str
    check: Optional[str]  # the name of the machine check, or None
    why_unchecked: str = ""

    @property
    def principle_id(self) -> str:
        """``"G8"`` for ``G8.1``: how reports group items."""
        return f"G{self.principle}"


def manifest_path(env: Optional[Mapping[str, str]] = None) -> Source:
    """Where the Genesis manifest is read from: ``PXOS_GENESIS``, or this package's copy (a Traversable)."""
    env = os.environ if env is None else env
    if env.get("PXOS_GENESIS"):
        return Path(env["PXOS_GENESIS"])
    from importlib.resources import files

    return files("pxos_genesis").joinpath("genesis.yaml")


@lru_cache(maxsize=8)
def _load(source: Source, key: str, mtime: float) -> tuple[Item, ...]:
    from pxos_kernel import load_yaml

    return parse(load_yaml(source, "Genesis manifest"), key)


def load_items(path: Optional[Source] = None) -> tuple[Item, ...]:
    """Every requirement of the manifest, in order (a file's are cached until it changes)."""
    source = path or manifest_path()
    mtime = 0.0  # package data does not change while the process runs
    if isinstance(source, Path):
        try:
            mtime = source.stat().st_mtime
        except OSError as exc:
            raise ConfigError(f"Genesis manifest {source}: cannot read it ({exc.strerror})") from None
    return _load(source, str(source), mtime)  # type: ignore[arg-type]  # Traversables hash by identity


def must_items(path: Optional[Source] = None) -> tuple[Item, ...]:
    """Only the MUST items: each becomes one guardrail."""
    return tuple(i for i in load_items(path) if i.level == "must")


def parse(data: object, where: str) -> tuple[Item, ...]:
    """Validate the manifest's structure and return its items; ConfigError names the fault."""
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConfigError(f"Genesis manifest {where}: expected a mapping with version: 1")
    principles = data.get("principles")
    if not isinstance(principles, list) or not principles:
        raise ConfigError(f"Genesis manifest {where}: 'principles' must be a non-empty list")
    items: list[Item] = []
    seen: set[str] = set()
    for p in principles:
        if not isinstance(p, dict) or not isinstance(p.get("number"), int) or not isinstance(p.get("items"), list):
            raise ConfigError(f"Genesis manifest {where}: each principle needs a number and a list of items")
        for raw in p["items"]:
            items.append(_item(raw, p, where, seen))
    return tuple(items)


def _item(raw: object, principle: dict, where: str, seen: set[str]) -> Item:
    if not isinstance(raw, dict):
        raise ConfigError(f"Genesis manifest {where}: an item of principle {principle['number']} is not a mapping")
    ident = raw.get("id")
    match = _ITEM_ID.match(str(ident))
    if not match or int(match.group(1)) != principle["number"]:
        raise ConfigError(f"Genesis manifest {where}: item id {ident!r} must be G{principle['number']}.<n>")
    ident = str(ident)
    if ident in seen:
        raise ConfigError(f"Genesis manifest {where}: item id {ident} appears twice")
    seen.add(ident)
    level, text = raw.get("level"), raw.get("text")
    if level not in LEVELS:
        raise ConfigError(f"Genesis manifest {where}: {ident} level {level!r} is not one of {', '.join(LEVELS)}")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"Genesis manifest {where}: {ident} has no text")
    check = raw.get("check")
    if level == "must":
        if "check" not in raw:
            raise ConfigError(f"Genesis manifest {where}: MUST item {ident} needs 'check' (a check name or null)")
        if check is None and not raw.get("why_unchecked"):
            raise ConfigError(f"Genesis manifest {where}: {ident} has no check, so it needs 'why_unchecked'")
    return Item(str(ident), principle["number"], str(principle.get("name", "")), level, text.strip(),
                None if check is None else str(check), str(raw.get("why_unchecked") or ""))


TABLE_MODULE = "must_items.py"


def render_table(items: tuple[Item, ...]) -> str:
    """The source of :mod:`pxos_genesis.must_items`: the MUST items as registration data."""
    lines = [
        '"""The MUST items of the shipped genesis.yaml, as registration data: (id, principle, text).',
        "",
        "Guardrails are registered on every start of the CLI; reading them from here instead of",
        "parsing the manifest keeps start-up cheap. Generated by",
        "``python -m pxos_genesis.principles``: do not edit. A test fails when it is stale.",
        '"""',
        "",
        "MUST_ITEMS: tuple[tuple[str, str, str], ...] = (",
        *(f"    ({i.id!r}, {i.principle_id!r}, {i.text!r})," for i in items if i.level == "must"),
        ")",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # regenerate must_items.py from the shipped manifest
    from pxos_kernel import atomic_write

    target = Path(__file__).with_name(TABLE_MODULE)
    atomic_write(target, render_table(load_items(manifest_path({}))).encode("utf-8"))
    print(f"wrote {target}")
