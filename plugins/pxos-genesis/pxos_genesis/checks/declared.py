"""Declared uses: what a cartridge says its code does that the source scan flags, each use with a reason.

A manifest may list, under ``declared_uses``, constructs its code needs and why::

    declared_uses:
      - path: site-packages/pxos_cartridge/boot.py
        uses: [compile, exec, marshal.loads]
        reason: the archive importer runs the archive's modules, as zipimport does

``path`` is a glob on member paths (``*`` also crosses ``/``); each use is a
glob on the scan's constructs (``import:socket``, ``call:ssl.*``, ``run:git``,
``exec``, ``eval``, ``compile``, ``marshal.loads``, ``import_module``,
``__import__``, and ``needs:MODULE`` for an import of a module the system
does not carry and the distribution does not declare, see G2.2). The guardrails accept exactly what is declared: a finding no
declaration covers fails, and so does a declared use that no finding needs
(a stale declaration hides nothing, but it no longer says what the code does).
Every accepted use is shown in the report with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable

from pxos_kernel import ConfigError

#: Which scan finding kinds a construct belongs to.
_KIND_OF_PREFIX = {"import:": "network-import", "call:": "network-call", "run:": "network-call",
                   "needs:": "undeclared-import"}


@dataclass(frozen=True)
class Declaration:
    path: str
    uses: tuple[str, ...]
    reason: str


def kind_of(use: str) -> str:
    for prefix, kind in _KIND_OF_PREFIX.items():
        if use.startswith(prefix):
            return kind
    return "hidden-code"


def declarations(manifest: Any, where: str) -> list[Declaration]:
    """The manifest's ``declared_uses``, validated (ConfigError names the bad entry)."""
    raw = (manifest or {}).get("declared_uses") or []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: declared_uses must be a list")
    out = []
    for n, entry in enumerate(raw):
        uses = entry.get("uses") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"] \
                or not isinstance(uses, list) or not uses or not all(isinstance(u, str) and u for u in uses) \
                or not str(entry.get("reason") or "").strip():
            raise ConfigError(f"{where}: declared_uses entry {n + 1} needs a path, a list of uses and a reason")
        out.append(Declaration(entry["path"], tuple(uses), str(entry["reason"]).strip()))
    return out


@dataclass
class Sorted:
    undeclared: list  # findings no declaration covers
    accepted: dict    # Declaration -> findings it covers
    unused: list      # (Declaration, use) that cover no finding


def sort(findings: Iterable[Any], declared: list[Declaration], kinds: tuple[str, ...],
         members: Iterable[str]) -> Sorted:
    """Split the findings of ``kinds`` into undeclared and accepted, and find declarations nothing needs.

    A declaration whose path matches no member of the archive (``members``) describes code this archive
    does not carry, and is left out.
    """
    names = list(members)
    declared = [d for d in declared if any(fnmatchcase(n, d.path) for n in names)]
    result = Sorted([], {}, [])
    used: set[tuple[Declaration, str]] = set()
    for finding in findings:
        if finding.kind not in kinds:
            continue
        cover = next(((d, u) for d in declared for u in d.uses
                      if kind_of(u) == finding.kind and fnmatchcase(finding.path, d.path)
                      and fnmatchcase(finding.construct, u)), None)
        if cover is None:
            result.undeclared.append(finding)
        else:
            used.add(cover)
            result.accepted.setdefault(cover[0], []).append(finding)
    result.unused = [(d, u) for d in declared for u in d.uses if kind_of(u) in kinds and (d, u) not in used]
    return result


def describe(accepted: dict, most: int = 8) -> str:
    """The accepted uses for a report: each declaration's path, what it covers, and why."""
    if not accepted:
        return "no declared uses"
    parts = [f"{d.path} ({', '.join(sorted({f.construct for f in found}))}: {d.reason})"
             for d, found in list(accepted.items())[:most]]
    more = len(accepted) - most
    return "; ".join(parts) + (f"; and {more} more declaration(s)" if more > 0 else "")
