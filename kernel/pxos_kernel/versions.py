"""Versioned registries: named things, every version kept by its bytes' sha256, one version current.

A registry is one directory::

    registry.json     {"format": FORMAT, "version": 1, SECTION: {name: entry}, "history": [...]},
                      rewritten atomically, and refused (never rewritten) when it cannot be parsed
    registry.lock     an fcntl lock, held while the file is read, modified and written back
    objects/ab/<sha>  the stored bytes of each version, named by their sha256; never deleted

An entry is ``{"current": VERSION, "previous": VERSION, "versions": {VERSION: record}}``.
A version moves ``experimental`` -> ``current`` -> ``superseded``; only a
promotion or a rollback with a named approver and a reason moves the
``current`` pointer, and every attempt, refusals included, is appended to the
history and checkpointed to the kernel's ledger.

A plugin subclasses :class:`VersionRegistry`, names its format, and keeps what
is its own: what a version records (``register``) and the gates a version must
pass to become current (the ``refusal`` it hands to :meth:`~VersionRegistry._make_current`).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Optional, Union

from pxos_kernel.errors import GuardrailError, IntegrityError, NotFoundError, PxosError
from pxos_kernel.files import atomic_write, atomic_writer, file_sha256

#: A refusal gate: ``(registry data, the record to make current, the current record or None)`` -> why not, or None.
Gate = Callable[[dict, dict, Optional[dict]], Optional[str]]


class _Any:
    def __repr__(self) -> str:
        return "ANY"


def current_user() -> str:
    """The login name of the person at the keyboard (``$USER``, else ``unknown``, where there is none)."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except Exception:  # no login name in a container: still a human, say so
        return os.environ.get("USER") or "unknown"


class VersionRegistry:
    """A JSON registry of named, versioned, content-addressed things under ``root``. Safe across processes.

    Subclasses set the class attributes (the on-disk format and the words of
    its messages) and build on the ``_``-prefixed steps, each of which works on
    the registry data a :meth:`_transaction` holds::

        class CartridgeRegistry(VersionRegistry):
            FORMAT, SECTION, NOUN, OBJECT, SUFFIX = (
                "pxos-cartridge-registry", "cartridges", "cartridge", "archive", ".pxa")
            LEDGER = ("CARTRIDGE", "DISTRICT_5.CHAMBER_CARTRIDGE.NODE_{}", "pxos-cartridge")

            def promote(self, ref, *, approved_by, reason):
                return self._make_current("promote", ref, None, approved_by=approved_by, reason=reason,
                                          approver_kind="human", refusal=self._untested)
    """

    FORMAT: ClassVar[str] = "pxos-version-registry"  #: the file's ``format``
    SECTION: ClassVar[str] = "items"  #: the key of the entries (``cartridges``, ``models``)
    NOUN: ClassVar[str] = "item"  #: what one entry is, in messages
    OBJECT: ClassVar[str] = "object"  #: what a version's stored bytes are, in messages
    SUFFIX: ClassVar[str] = ""  #: the stored objects' file suffix
    LEDGER: ClassVar[tuple[str, str, str]] = ("REGISTRY", "DISTRICT_0.CHAMBER_REGISTRY.NODE_{}", "pxos-kernel")
    #: The fields every version record must hold, and their types (the code reads them unchecked).
    RECORD_FIELDS: ClassVar[Mapping[str, type]] = {"name": str, "version": str, "status": str, "sha256": str}
    #: Whether a bare ``NAME`` without a current version means its latest version (else: not found).
    LATEST_IF_NO_CURRENT: ClassVar[bool] = False
    Error: ClassVar[type[PxosError]] = PxosError  #: a bad operation (bad argument, duplicate version)
    CorruptError: ClassVar[type[PxosError]] = PxosError  #: the file cannot be parsed
    Refused: ClassVar[type[PxosError]] = GuardrailError  #: a gate refused a promotion or rollback
    #: What a version string may be.
    VERSION: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    #: ``expected_current`` default: promote whatever is current.
    ANY: ClassVar[Any] = _Any()

    def __init__(self, root: Union[str, Path], kernel: Any = None) -> None:
        self.root = Path(root)
        self.kernel = kernel  # where attempts are checkpointed; None: the history alone keeps them
        self.path = self.root / "registry.json"

    @staticmethod
    def timestamp() -> str:
        """Now, in UTC, as the records write it: ``2026-12-01T16:55:00.123456Z``."""
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @classmethod
    def split_ref(cls, ref: str, version: Optional[str] = None) -> tuple[str, Optional[str]]:
        """``"greeter@1.0"`` -> ``("greeter", "1.0")``; ``"greeter"`` -> ``("greeter", version)``."""
        name, _, own = ref.partition("@")
        if own and version is not None:
            raise cls.Error(f"give the version either in {ref!r} or separately, not both")
        return name, own or version

    # -- storage ---------------------------------------------------------------------------------

    def _load(self) -> dict:
        """The registry data, checked; an unparseable file raises ``CorruptError`` and stays as it is."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": self.FORMAT, "version": 1, self.SECTION: {}, "history": []}
        except OSError as exc:
            raise self.Error(f"{self.NOUN} registry {self.path}: cannot read it ({exc.strerror})") from None
        try:
            data = json.loads(text)
            problem = None if isinstance(data, dict) else "not a JSON object"
        except ValueError as exc:
            data, problem = None, f"not valid JSON: {exc}"
        if problem is None:
            problem = self._problem(data)
        if problem:
            raise self.CorruptError(f"{self.NOUN} registry {self.path} is corrupt ({problem}); it was left "
                                    "untouched: restore it from a backup or move it aside")
        return data

    def _problem(self, data: dict) -> Optional[str]:
        """What is wrong with parsed registry data (None when nothing)."""
        if data.get("format") != self.FORMAT or data.get("version") != 1:
            return f"format {data.get('format')!r} version {data.get('version')!r} is not {self.FORMAT} 1"
        entries = data.get(self.SECTION)
        if not isinstance(entries, dict) or not isinstance(data.get("history"), list):
            return f"missing its {self.SECTION} or history"
        if not all(isinstance(e, dict) and isinstance(e.get("versions"), dict) for e in entries.values()):
            return f"a {self.NOUN} entry has no versions"
        for name, entry in entries.items():
            for version, record in entry["versions"].items():
                if not isinstance(record, dict):
                    return f"{name}@{version} is {type(record).__name__}, not a version record"
                for key, kind in self.RECORD_FIELDS.items():
                    if not isinstance(record.get(key), kind) or kind is int and isinstance(record.get(key), bool):
                        return f"{name}@{version} has no {key} ({kind.__name__})"
            for pointer in ("current", "previous"):
                target = entry.get(pointer)
                if target is not None and target not in entry["versions"]:
                    return f"{name}'s {pointer} version {target!r} is not registered"
        return None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict]:
        """Hold the cross-process lock, yield the registry, write it back atomically if the body succeeds."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "registry.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, whatever happens
            data = self._load()
            yield data
            atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))

    def _log(self, data: dict, action: str, record: Mapping[str, Any], outcome: str, detail: str,
             **extra: Any) -> dict:
        """Checkpoint one attempt to the ledger and append it to the history; return the history entry."""
        payload = {"name": record["name"], "version": record["version"], "outcome": outcome, "detail": detail,
                   **extra}
        ledger_id = None
        if self.kernel is not None:
            kind, corridor, agent = self.LEDGER
            ledger_id = self.kernel.checkpoint(kind, action, {"sha256": record["sha256"], **payload},
                                               corridor=corridor.format(action.upper()), agent=agent)["id"]
        entry = {"at": self.timestamp(), "action": action, **payload, "ledger_id": ledger_id}
        data["history"].append(entry)
        return entry

    def _content_path(self, sha256: str, folder: str = "objects", suffix: Optional[str] = None) -> Path:
        """Where the bytes with ``sha256`` are stored: ``root/folder/ab/<sha256><suffix>``."""
        return self.root / folder / sha256[:2] / f"{sha256}{self.SUFFIX if suffix is None else suffix}"

    def _store(self, source: Path, sha256: str, folder: str = "objects", suffix: Optional[str] = None) -> Path:
        """Copy ``source`` into the content-addressed store (once: same bytes, same file, read-only)."""
        target = self._content_path(sha256, folder, suffix)
        if target.exists():
            if file_sha256(target) != sha256:
                raise IntegrityError(f"stored {target} no longer matches its sha256: the store is damaged")
            return target
        with open(source, "rb") as src, atomic_writer(target, 0o444) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if file_sha256(target) != sha256:
            raise IntegrityError(f"{source} changed while it was being stored; register it again")
        return target

    def _stored(self, record: Mapping[str, Any], *, verify: bool = True) -> Path:
        """A version's stored object; ``verify`` also checks its bytes against the record's sha256."""
        path = self._content_path(record["sha256"])
        what = f"the {self.OBJECT} of {record['name']}@{record['version']}"
        if not path.is_file():
            raise IntegrityError(f"{what} is missing from {path}")
        if verify and file_sha256(path) != record["sha256"]:
            raise IntegrityError(f"{what} at {path} no longer matches its sha256")
        return path

    # -- lookups within one read -----------------------------------------------------------------

    def _entry(self, data: dict, name: str, *, create: bool = False) -> dict:
        entries = data[self.SECTION]
        if create:
            return entries.setdefault(name, {"current": None, "previous": None, "versions": {}})
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise NotFoundError(f"no {self.NOUN} named {name!r} (registered: {known})")
        return entries[name]

    def _record(self, data: dict, ref: str, version: Optional[str] = None) -> dict:
        """``NAME@VERSION``'s record; a bare ``NAME`` means its current version."""
        name, version = self.split_ref(ref, version)
        entry = self._entry(data, name)
        versions = entry["versions"]
        if version is None:
            version = entry.get("current") or (builtins.list(versions)[-1] if self.LATEST_IF_NO_CURRENT else None)
            if version is None:
                raise NotFoundError(f"{self.NOUN} {name!r} has no current version (promote one, or name one of "
                                    f"{', '.join(versions)} as {name}@VERSION)")
        if version not in versions:
            raise NotFoundError(f"{self.NOUN} {name!r} has no version {version!r} (versions: {', '.join(versions)})")
        return versions[version]

    def _check_new_version(self, entry: Mapping[str, Any], name: str, version: str) -> None:
        """Refuse a version string that is malformed, or taken: registered versions are never replaced."""
        if not self.VERSION.match(version):
            raise self.Error(f"version {version!r} is invalid (letters, digits, '.', '_', '+', '-')")
        if version in entry["versions"]:
            raise self.Error(f"{name}@{version} is already registered (sha256 "
                             f"{entry['versions'][version]['sha256'][:12]}); registered versions are never replaced")

    # -- queries -----------------------------------------------------------------------------------

    def names(self) -> builtins.list[str]:
        """Every registered name, sorted."""
        return sorted(self._load()[self.SECTION])

    def has(self, ref: str) -> bool:
        """Whether ``NAME`` (of ``NAME[@VERSION]``) is registered."""
        return self.split_ref(ref)[0] in self._load()[self.SECTION]

    def get(self, ref: str, version: Optional[str] = None) -> dict:
        """One version's record: ``NAME@VERSION``, or ``NAME`` (its current version)."""
        return self._record(self._load(), ref, version)

    def current(self, name: str) -> Optional[dict]:
        """The current version's record of ``name``, or None when none is current (or none is registered)."""
        entry = self._load()[self.SECTION].get(self.split_ref(name)[0])
        return entry["versions"][entry["current"]] if entry and entry.get("current") else None

    def list(self, name: Optional[str] = None) -> builtins.list[dict]:
        """Every version of every name (or of ``name``), names sorted, versions in registration order."""
        data = self._load()
        names = sorted(data[self.SECTION]) if name is None else [name]
        return [record for key in names for record in self._entry(data, key)["versions"].values()]

    def lineage(self, ref: str, version: Optional[str] = None) -> builtins.list[dict]:
        """The version's ancestors by ``parent`` (a version of the same name, or ``NAME@VERSION``), root first."""
        data = self._load()
        chain = [self._record(data, ref, version)]
        bound = sum(len(e["versions"]) for e in data[self.SECTION].values())
        while chain[-1].get("parent") is not None:
            if len(chain) > bound:
                raise self.CorruptError(f"{self.NOUN} registry {self.path}: the lineage of {ref} has a cycle")
            parent = chain[-1]["parent"]
            chain.append(self._record(data, parent if "@" in parent else f"{chain[-1]['name']}@{parent}"))
        return chain[::-1]

    def history(self, name: Optional[str] = None) -> builtins.list[dict]:
        """Every attempt (done and refused), oldest first; of ``NAME[@VERSION]``'s name only, when given."""
        name = None if name is None else self.split_ref(name)[0]
        return [h for h in self._load()["history"] if name in (None, h["name"])]

    # -- the one move of the current pointer -----------------------------------------------------

    def _make_current(self, action: str, ref: str, version: Optional[str], *, approved_by: str, reason: str,
                      approver_kind: str, refusal: Gate, expected_current: Any = ANY) -> dict:
        """Promote (``action="promote"``) or roll back to a version, deciding under the lock.

        It is refused, recorded in the history and the ledger, then raised as
        ``Refused``, when: ``expected_current`` (a version or None: what the
        caller saw as current when it decided) is no longer current, so of two
        concurrent promotions exactly one wins; the version is already current;
        ``refusal`` names a reason; or its stored object no longer matches its
        sha256. A rollback without a version returns to the previous current one.
        """
        if not str(approved_by or "").strip() or not str(reason or "").strip():
            raise self.Error(f"{action} needs an approver (--approved-by) and a reason (--reason)")
        name, version = self.split_ref(ref, version)
        by = f"{approver_kind}:{approved_by}"
        with self._transaction() as data:
            entry = self._entry(data, name)
            current = entry["versions"].get(entry["current"]) if entry["current"] else None
            if action == "rollback":
                if current is None:
                    raise self.Error(f"{self.NOUN} {name!r} has no current version to roll back from")
                version = version or entry.get("previous")
                if version is None:
                    raise self.Error(f"{self.NOUN} {name!r} has no earlier current version to roll back to; "
                                     "name one with --to")
            elif version is None:
                raise self.Error(f"promote needs a version: {name}@VERSION")
            record = self._record(data, name, version)
            why: Optional[str]
            if expected_current is not self.ANY and entry["current"] != expected_current:
                why = (f"the current version changed to {entry['current'] or 'none'} (from "
                       f"{expected_current or 'none'}) while this {action} was being decided: another "
                       f"{action} won; look at the history and decide again")
            elif record["status"] == "current":
                why = "it is already the current version"
            else:
                why = refusal(data, record, current)
            if why is None:
                try:
                    self._stored(record)
                except IntegrityError as exc:
                    why = str(exc)
            if why:
                self._log(data, action, record, "refused", why, by=by, reason=reason)
            else:
                if current is not None:
                    current["status"] = "superseded"
                record["status"] = "current"
                record["promoted"] = {"by": approved_by, "kind": approver_kind, "reason": reason,
                                      "at": self.timestamp(), "action": action,
                                      "replaced": None if current is None else current["version"]}
                entry["previous"], entry["current"] = entry["current"], record["version"]
                self._log(data, action, record, "done", f"now current (was {entry['previous'] or 'no version'})",
                          by=by, reason=reason)
        if why:
            raise self.Refused(f"{action} of {name}@{version} refused: {why}")
        return record
