"""Is a candidate a breaking change of its parent? The pipeline decides, never the patch.

Two surfaces (:mod:`pxos_genesis.evolve.surface` for the code,
:mod:`pxos_genesis.evolve.probes` for the commands) are compared and
every difference becomes a :class:`Change`. The rules, and why:

* a hook specification removed, or its signature (parameters, their kinds,
  annotations and defaults, the return annotation, the marker's options such
  as ``firstresult``) changed in any way: **breaking**. Hookspecs are the
  stable WHAT that every plugin is written against. A new hookspec is not.
* a registration type or an interface dataclass: removing, renaming,
  reordering or retyping a field, changing a default, or adding a field without
  a default is **breaking** (existing plugins construct these); a new field
  with a default after the existing ones is not.
* a Protocol: any member added, removed or changed is **breaking**
  (implementations written against the old one no longer match it).
* a format version constant changed or removed: **breaking** (archives,
  containers and ledgers written before may no longer be read).
* a command or one of its options or arguments removed: **breaking**
  (scripts that call it stop working). New commands and options are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from pxos_genesis.evolve.surface import Surface


@dataclass(frozen=True)
class Change:
    """One difference between parent and candidate."""

    kind: str  # hookspec | registration | interface | format | command | option
    name: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.what}"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "what": self.what, "breaking": self.breaking}


@dataclass
class Judgement:
    """Every change found; ``breaking`` when any of them is."""

    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    @property
    def reasons(self) -> list[str]:
        """One line per breaking change."""
        return [str(c) for c in self.changes if c.breaking]

    def as_dict(self) -> dict:
        return {"breaking": self.breaking, "reasons": self.reasons, "changes": [c.as_dict() for c in self.changes]}


def judge(parent: Surface, candidate: Surface, parent_cli: Optional[Mapping[str, Any]] = None,
          candidate_cli: Optional[Mapping[str, Any]] = None) -> Judgement:
    """Compare ``candidate`` with ``parent``; the CLI surfaces are compared when both are given."""
    judgement = Judgement()
    add = judgement.changes.append
    _compare_named("hookspec", parent.hookspecs, candidate.hookspecs, _signature_change, add)
    _compare_named("registration", parent.registrations, candidate.registrations, _fields_change, add)
    _compare_named("interface", parent.interfaces, candidate.interfaces, _interface_change, add)
    for name in sorted(set(parent.formats) | set(candidate.formats)):
        old, new = parent.formats.get(name), candidate.formats.get(name)
        if old is not None and new is None:
            add(Change("format", name, f"version constant removed (was {old!r})", True))
        elif old is None and new is not None:
            add(Change("format", name, f"new version constant {new!r}", False))
        elif old != new:
            add(Change("format", name, f"format version changed from {old!r} to {new!r}", True))
    if parent_cli is not None and candidate_cli is not None:
        for change in compare_cli(parent_cli, candidate_cli):
            add(change)
    return judgement


def _compare_named(kind: str, old: Mapping[str, Any], new: Mapping[str, Any], differ, add) -> None:
    for name in sorted(set(old) | set(new)):
        if name not in new:
            add(Change(kind, name, "removed", True))
        elif name not in old:
            add(Change(kind, name, "added", False))
        elif old[name] != new[name]:
            what, breaking = differ(old[name], new[name])
            add(Change(kind, name, what, breaking))


# -- signatures ---------------------------------------------------------------------------------


def _signature_change(old: dict, new: dict) -> tuple[str, bool]:
    """What changed in a hookspec (or method) signature; always breaking."""
    parts = _param_changes(old.get("params", []), new.get("params", []))
    if old.get("returns") != new.get("returns"):
        parts.append(f"return annotation {old.get('returns')} -> {new.get('returns')}")
    old_options, new_options = old.get("options", {}), new.get("options", {})
    for key in sorted(set(old_options) | set(new_options)):
        if old_options.get(key) != new_options.get(key):
            parts.append(f"marker option {key} {old_options.get(key, 'unset')} -> {new_options.get(key, 'unset')}")
    if old.get("module") != new.get("module"):
        parts.append(f"moved from {old.get('module')} to {new.get('module')}")
    return "signature changed: " + "; ".join(parts or ["(differs)"]), True


def _param_changes(old: list[dict], new: list[dict]) -> list[str]:
    old_by, new_by = {p["name"]: p for p in old}, {p["name"]: p for p in new}
    parts = [f"parameter {n} removed" for n in old_by if n not in new_by]
    parts += [f"parameter {n} added" for n in new_by if n not in old_by]
    for name in (n for n in old_by if n in new_by):
        for key in ("kind", "annotation", "default"):
            if old_by[name][key] != new_by[name][key]:
                parts.append(f"parameter {name} {key} {old_by[name][key]} -> {new_by[name][key]}")
    common_old = [n for n in old_by if n in new_by]
    common_new = [n for n in new_by if n in old_by]
    if common_old != common_new:
        parts.append(f"parameters reordered ({', '.join(common_old)} -> {', '.join(common_new)})")
    return parts


# -- dataclass fields ---------------------------------------------------------------------------


def _fields_change(old: list[dict], new: list[dict]) -> tuple[str, bool]:
    """What changed in a dataclass's fields; compatible only for new defaulted fields at the end."""
    if new[:len(old)] == old and all(f["default"] is not None for f in new[len(old):]):
        return "optional field(s) added: " + ", ".join(f["name"] for f in new[len(old):]), False
    old_by, new_by = {f["name"]: f for f in old}, {f["name"]: f for f in new}
    parts = [f"field {n} removed" for n in old_by if n not in new_by]
    for name, f in new_by.items():
        if name not in old_by:
            parts.append(f"field {name} added" + (" without a default" if f["default"] is None else ""))
    for name in (n for n in old_by if n in new_by):
        for key in ("annotation", "default"):
            if old_by[name][key] != new_by[name][key]:
                parts.append(f"field {name} {key} {old_by[name][key]} -> {new_by[name][key]}")
    common_old = [n for n in old_by if n in new_by]
    common_new = [n for n in new_by if n in old_by]
    if common_old != common_new:
        parts.append(f"fields reordered ({', '.join(common_old)} -> {', '.join(common_new)})")
    if not parts:  # only new defaulted fields, but not at the end: positional construction shifts
        parts.append("optional field(s) inserted before existing ones")
    return "fields changed: " + "; ".join(parts), True


def _interface_change(old: dict, new: dict) -> tuple[str, bool]:
    if old.get("kind") != new.get("kind"):
        return f"changed from a {old.get('kind')} to a {new.get('kind')}", True
    if old["kind"] == "dataclass":
        return _fields_change(old["fields"], new["fields"])
    old_members, new_members = old["members"], new["members"]
    parts = [f"member {n} removed" for n in old_members if n not in new_members]
    parts += [f"member {n} added" for n in new_members if n not in old_members]
    for name in (n for n in old_members if n in new_members and old_members[n] != new_members[n]):
        what, _ = _signature_change(old_members[name], new_members[name])
        parts.append(f"{name} {what}")
    return "protocol changed: " + "; ".join(parts or ["(differs)"]), True


# -- commands -----------------------------------------------------------------------------------


def compare_cli(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Commands and options removed (breaking) or added, from two :func:`~pxos_genesis.evolve.probes.surface_of` answers."""
    changes = []
    for command in sorted(set(old) | set(new)):
        if command not in new:
            changes.append(Change("command", command, "removed", True))
            continue
        if command not in old:
            changes.append(Change("command", command, "added", False))
            continue
        if "error" in new[command]:
            if "error" not in old[command]:
                changes.append(Change("command", command, f"can no longer declare its arguments "
                                      f"({new[command]['error']})", True))
            continue
        for key, label in (("options", "option"), ("arguments", "argument")):
            before, after = set(old[command].get(key, [])), set(new[command].get(key, []))
            for gone in sorted(before - after):
                changes.append(Change("option", command, f"{label} {gone} removed", True))
            for added in sorted(after - before):
                changes.append(Change("option", command, f"{label} {added} added", False))
    return changes


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
