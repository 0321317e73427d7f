"""The cartridge registry: every version of every cartridge, its lineage, tests and status.

State lives in ``PXOS_HOME/cartridges/``::

    registry.json          the records and the history of every attempt (rewritten atomically)
    registry.lock          an fcntl lock held while the registry is read-modified-written
    objects/ab/<sha>.pxa   archives, content-addressed by the sha256 of their bytes; never deleted

A version moves ``experimental`` -> (``failed``) -> ``current`` -> ``superseded``.
Every transition, and every refused attempt, is appended to the history and
written to the ledger. A registry file that cannot be parsed is refused and
left exactly as it is.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import getpass
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from pxos_kernel import IntegrityError, NotFoundError, Progress, atomic_write, atomic_writer, file_sha256

from pxos_cartridge.archive import PathLike, open_archive
from pxos_cartridge.errors import PromotionRefused, RegistryCorruptError, RegistryError
from pxos_cartridge.manifest import NAME

FORMAT = "pxos-cartridge-registry"
STATUSES = ("experimental", "failed", "current", "superseded")
BUILDER_KINDS = ("human", "llm")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
CORRIDOR = "DISTRICT_5.CHAMBER_CARTRIDGE.NODE_{}"



#: What every stored version record holds, and its type (the code reads these without checking).
_RECORD_FIELDS = {"name": str, "version": str, "status": str, "sha256": str, "generation": int, "created": str,
                  "builder": dict, "manifest": dict, "breaking": bool}


def _entries_problem(cartridges: dict) -> Optional[str]:
    """What is wrong inside the registry's cartridge entries (None when nothing): each version a record with
    its fields, and ``current``/``previous`` naming a version the entry holds."""
    for name, entry in cartridges.items():
        for version, record in entry["versions"].items():
            if not isinstance(record, dict):
                return f"{name}@{version} is {type(record).__name__}, not a version record"
            for key, kind in _RECORD_FIELDS.items():
                if not isinstance(record.get(key), kind) or kind is int and isinstance(record.get(key), bool):
                    return f"{name}@{version} has no {key} ({kind.__name__})"
        for pointer in ("current", "previous"):
            target = entry.get(pointer)
            if target is not None and target not in entry["versions"]:
                return f"{name}'s {pointer} version {target!r} is not registered"
    return None

class _Any:
    def __repr__(self) -> str:
        return "ANY"


#: ``expected_current`` default: promote whatever is current.
ANY: Any = _Any()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_ref(name: str, version: Optional[str] = None) -> tuple[str, Optional[str]]:
    """``"greeter@1.0"`` -> ``("greeter", "1.0")``; a separate ``version`` must not be given too."""
    if "@" in name:
        if version is not None:
            raise RegistryError(f"give the version either in {name!r} or separately, not both")
        name, version = name.split("@", 1)
    return name, version


class CartridgeRegistry:
    """The registry of one kernel's ``PXOS_HOME``. Safe to use from many processes at once."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.root = Path(kernel.home) / "cartridges"
        self.path = self.root / "registry.json"
        self.objects = self.root / "objects"

    # -- storage -----------------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": FORMAT, "version": 1, "cartridges": {}, "history": []}
        except OSError as exc:
            raise RegistryError(f"cartridge registry {self.path}: cannot read it ({exc.strerror})") from None
        try:
            data = json.loads(text)
            problem = None if isinstance(data, dict) else "not a JSON object"
        except ValueError as exc:
            data, problem = None, f"not valid JSON: {exc}"
        if problem is None:
            if data.get("format") != FORMAT or data.get("version") != 1:
                problem = f"format {data.get('format')!r} version {data.get('version')!r} is not {FORMAT} 1"
            elif not isinstance(data.get("cartridges"), dict) or not isinstance(data.get("history"), list):
                problem = "missing its cartridges or history"
            elif not all(isinstance(c, dict) and isinstance(c.get("versions"), dict)
                         for c in data["cartridges"].values()):
                problem = "a cartridge entry has no versions"
            else:
                problem = _entries_problem(data["cartridges"])
        if problem:
            raise RegistryCorruptError(f"cartridge registry {self.path} is corrupt ({problem}); it was left "
                                       "untouched: restore it from a backup or move it aside")
        return data

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict]:
        """Hold the cross-process lock, yield the registry, write it back atomically if the body succeeds."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "registry.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._load()
                yield data
                atomic_write(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _record(self, data: dict, name: str, version: Optional[str]) -> dict:
        name, version = split_ref(name, version)
        entry = data["cartridges"].get(name)
        if entry is None:
            known = ", ".join(sorted(data["cartridges"])) or "none"
            raise NotFoundError(f"no cartridge named {name!r} (registered: {known})")
        if version is None:
            version = entry.get("current") or list(entry["versions"])[-1]
        record = entry["versions"].get(version)
        if record is None:
            raise NotFoundError(f"cartridge {name!r} has no version {version!r} "
                                f"(versions: {', '.join(entry['versions'])})")
        return record

    def _log(self, data: dict, action: str, record: dict, outcome: str, detail: str, by: str = "",
             **extra: Any) -> dict:
        """Write one ledger record and one history entry for an attempt."""
        payload = {"name": record["name"], "version": record["version"], "sha256": record["sha256"],
                   "outcome": outcome, "detail": detail, "by": by, **extra}
        ledger = self.kernel.checkpoint("CARTRIDGE", action, payload, corridor=CORRIDOR.format(action.upper()),
                                        agent="pxos-cartridge")
        entry = {"at": _now(), "action": action, "name": record["name"], "version": record["version"],
                 "outcome": outcome, "detail": detail, "by": by, "ledger_id": ledger["id"], **extra}
        data["history"].append(entry)
        return entry

    def _store_object(self, source: Path, sha256: str) -> Path:
        """Copy an archive into the content-addressed store (once: same bytes, same file)."""
        target = self.objects / sha256[:2] / f"{sha256}.pxa"
        if target.exists():
            if file_sha256(target) != sha256:
                raise IntegrityError(f"stored archive {target} no longer matches its sha256: the store is damaged")
            return target
        with open(source, "rb") as src, atomic_writer(target, 0o444) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        if file_sha256(target) != sha256:
            raise IntegrityError(f"{source} changed while it was being registered; register it again")
        return target

    # -- queries ---------------------------------------------------------------------------

    def get(self, name: str, version: Optional[str] = None) -> dict:
        """One version's record (``None``: the current version, else the latest registered)."""
        return self._record(self._load(), name, version)

    def current(self, name: str) -> Optional[dict]:
        entry = self._load()["cartridges"].get(split_ref(name)[0])
        if entry is None or not entry.get("current"):
            return None
        return entry["versions"][entry["current"]]

    def list(self, name: Optional[str] = None) -> builtins.list[dict]:
        """Every version of every cartridge (or of ``name``), in registration order."""
        cartridges = self._load()["cartridges"]
        if name is not None and name not in cartridges:
            raise NotFoundError(f"no cartridge named {name!r}")
        return [record for key in sorted(cartridges) if name in (None, key)
                for record in cartridges[key]["versions"].values()]

    def lineage(self, name: str, version: Optional[str] = None) -> builtins.list[dict]:
        """The version's ancestors by ``parent``, root first, the version itself last."""
        data = self._load()
        chain = [self._record(data, name, version)]
        while chain[-1]["parent"] is not None:
            if len(chain) > len(data["cartridges"][chain[-1]["name"]]["versions"]):
                raise RegistryCorruptError(f"cartridge registry {self.path}: lineage of {name} has a cycle")
            chain.append(self._record(data, chain[-1]["name"], chain[-1]["parent"]))
        return chain[::-1]

    def history(self, name: Optional[str] = None) -> builtins.list[dict]:
        """Every attempt (done and refused), oldest first."""
        name = None if name is None else split_ref(name)[0]
        return [h for h in self._load()["history"] if name in (None, h["name"])]

    def archive_path(self, name: str, version: Optional[str] = None) -> Path:
        """Where the version's .pxa is stored."""
        sha = self.get(name, version)["sha256"]
        return self.objects / sha[:2] / f"{sha}.pxa"

    # -- transitions -------------------------------------------------------------------------

    def register(self, archive: PathLike, *, name: Optional[str] = None, version: Optional[str] = None,
                 parent: Optional[str] = None, builder: Optional[Mapping[str, str]] = None, notes: str = "",
                 capabilities: Optional[Sequence[str]] = None, breaking: bool = False,
                 details: Optional[Mapping[str, Any]] = None) -> dict:
        """Validate ``archive``, store it, and record it as a new ``experimental`` version.

        ``details`` is kept in the record as ``system`` (what a system cartridge holds).
        """
        opened = open_archive(archive)
        manifest = opened.manifest
        name = name or manifest.get("name")
        if not name or not NAME.match(name):
            raise RegistryError(f"cartridge name {name!r} is missing or invalid (lowercase letters, digits, "
                                "'-', '_', '.'; give --name or set name in the manifest)")
        builder = dict(builder or {"kind": "human", "who": _user()})
        if builder.get("kind") not in BUILDER_KINDS or not str(builder.get("who") or "").strip():
            raise RegistryError(f"builder {builder!r} must have kind human or llm and a non-empty who")
        capabilities = list(manifest.get("capabilities", []) if capabilities is None else capabilities)
        sha = opened.sha256
        stored = self._store_object(opened.path, sha)
        with self._transaction() as data:
            entry = data["cartridges"].setdefault(name, {"current": None, "previous": None, "versions": {}})
            versions = entry["versions"]
            if parent is None:
                parent = entry["current"] or (list(versions)[-1] if versions else None)
            elif parent not in versions:
                raise RegistryError(f"parent {name}@{parent} is not registered")
            generation = 0 if parent is None else versions[parent]["generation"] + 1
            version = str(version or manifest.get("version") or f"g{generation}")
            if not VERSION.match(version):
                raise RegistryError(f"version {version!r} is invalid (letters, digits, '.', '_', '+', '-')")
            if version in versions:
                raise RegistryError(f"{name}@{version} is already registered (sha256 "
                                    f"{versions[version]['sha256'][:12]}); registered versions are never replaced")
            record = {
                "name": name, "version": version, "parent": parent, "generation": generation,
                "builder": {"kind": builder["kind"], "who": str(builder["who"])}, "created": _now(),
                "notes": notes, "sha256": sha, "size": stored.stat().st_size, "capabilities": capabilities,
                "breaking": bool(breaking or manifest.get("breaking", False)), "status": "experimental",
                "manifest": manifest, "tests": None, "promoted": None, "benchmarks": None,
            }
            if details is not None:
                record["system"] = dict(details)
            versions[version] = record
            self._log(data, "register", record, "done", f"registered generation {generation}",
                      by=f"{builder['kind']}:{builder['who']}")
        return record

    def test(self, name: str, version: Optional[str] = None, *, timeout: Optional[float] = None,
             limits: Optional[Mapping[str, Any]] = None, allow_unisolated: bool = False,
             progress: Optional[Progress] = None) -> dict:
        """Run the cartridge's own tests in the sandbox and every guardrail; store and return the record.

        Refused (SandboxUnavailable) where no filesystem isolation works, unless ``allow_unisolated``.
        The two steps are shown as phases of ``progress`` (``total=2``).
        """
        from pxos_cartridge.testrun import parse_counts, run_tests

        record = self.get(name, version)
        path = self._verified_object(record)
        command = (record["manifest"].get("tests") or {}).get("command")
        limits = {**(limits or {}), **({"timeout": timeout} if timeout is not None else {})}
        if progress is not None:
            progress.phase("tests in the sandbox")
        run = run_tests(self.kernel, path, command, label=f"cartridge test {record['name']}@{record['version']}",
                        limits=limits, allow_unisolated=allow_unisolated)
        counts = parse_counts(run.stdout or "")
        if progress is not None:
            progress.phase("guardrails")
        report = self.kernel.hypervisor.validate_genesis(record["name"], {
            "cartridge": record["name"], "version": record["version"], "archive": str(path),
            "record": dict(record)})
        guardrails = guardrail_results(report)
        passed = run.status == "ok" and run.exit_code == 0 and report["counts"]["failed"] == 0
        output = run.stdout or ""
        results = {
            "passed": passed, "ran_at": _now(), "command": command or ["pytest"], "status": run.status,
            "exit_code": run.exit_code, "error": run.error, "duration": round(run.duration, 3),
            "counts": counts, "output": output[-4000:], "run_id": run.post_id, "sha256": record["sha256"],
            "sandbox": run.protections, "guardrails": guardrails,
        }
        return self._store_tests(record, results)

    def record_tests(self, name: str, version: Optional[str], results: Mapping[str, Any],
                     detail: Optional[str] = None) -> dict:
        """Store test results of a run made elsewhere (the evolution pipeline's sandboxed build).

        ``results`` has the shape :meth:`test` stores: at least ``passed``,
        ``status``, ``exit_code``, ``run_id`` (the ledger run that vouches for
        it), ``sha256`` (the archive bytes they are for, which must be this
        version's) and ``guardrails`` (with ``counts``).
        """
        record = self.get(name, version)
        missing = [k for k in ("passed", "status", "exit_code", "run_id", "sha256", "guardrails") if k not in results]
        if missing:
            raise RegistryError(f"test results for {record['name']}@{record['version']} lack {', '.join(missing)}")
        if results["sha256"] != record["sha256"]:
            raise RegistryError(f"test results for {record['name']}@{record['version']} are for other archive bytes "
                                f"({str(results['sha256'])[:12]}, registered {record['sha256'][:12]})")
        return self._store_tests(record, {"ran_at": _now(), **results}, detail)

    def _store_tests(self, record: dict, results: Mapping[str, Any], detail: Optional[str] = None) -> dict:
        passed = bool(results["passed"])
        counts = (results.get("guardrails") or {}).get("counts") or {}
        with self._transaction() as data:
            record = self._record(data, record["name"], record["version"])
            record["tests"] = dict(results)
            if record["status"] in ("experimental", "failed"):
                record["status"] = "experimental" if passed else "failed"
            detail = detail or (f"tests {results['status']} (exit {results['exit_code']}, "
                                f"{results.get('counts') or {}}); guardrails {counts.get('passed', 0)} passed, "
                                f"{counts.get('failed', 0)} failed")
            self._log(data, "test", record, "passed" if passed else "failed", detail, run_id=results.get("run_id"))
        return record

    def record_benchmarks(self, name: str, version: Optional[str], figures: Mapping[str, Any]) -> dict:
        """Keep benchmark ``figures`` measured for a version (``world show`` displays them)."""
        with self._transaction() as data:
            stored = self._record(data, name, version)
            stored["benchmarks"] = dict(figures)
            self._log(data, "benchmark", stored, "done", f"{len(figures)} figure(s) recorded")
        return stored

    def promote(self, name: str, version: Optional[str] = None, *, approved_by: str, reason: str,
                approver_kind: str = "human", expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        """Make a tested version current. Refusals are recorded, then raised as PromotionRefused.

        ``expected_current`` (a version or None) is what the caller saw as current when it decided;
        if another promotion changed it in the meantime, this one is refused, so of two concurrent
        promotions exactly one wins (both decide under the registry lock). Crossing a breaking change
        (the version, or the current one, is marked breaking) needs a human approver who passes
        ``breaking_ok``.
        """
        return self._make_current("promote", name, version, approved_by, reason, approver_kind, expected_current,
                                  breaking_ok)

    def rollback(self, name: str, to_version: Optional[str] = None, *, approved_by: str, reason: str,
                 approver_kind: str = "human", expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        """Make an earlier version current again (default: the one current before), with the same checks."""
        return self._make_current("rollback", name, to_version, approved_by, reason, approver_kind,
                                  expected_current, breaking_ok)

    def _make_current(self, action: str, name: str, version: Optional[str], approved_by: str, reason: str,
                      approver_kind: str, expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        if not str(approved_by or "").strip() or not str(reason or "").strip():
            raise RegistryError(f"{action} needs an approver (--approved-by) and a reason (--reason)")
        if approver_kind not in BUILDER_KINDS:
            raise RegistryError(f"approver kind {approver_kind!r} must be human or llm")
        name, version = split_ref(name, version)
        by = f"{approver_kind}:{approved_by}"
        refusal = None
        with self._transaction() as data:
            entry = data["cartridges"].get(name)
            if entry is None:
                raise NotFoundError(f"no cartridge named {name!r}")
            current = entry["versions"].get(entry["current"]) if entry["current"] else None
            if action == "rollback":
                if current is None:
                    raise RegistryError(f"cartridge {name!r} has no current version to roll back from")
                version = version or entry.get("previous")
                if version is None:
                    raise RegistryError(f"cartridge {name!r} has no earlier current version to roll back to; "
                                        "name one with --to")
            elif version is None:
                raise RegistryError(f"promote needs a version: {name}@VERSION")
            record = self._record(data, name, version)
            if expected_current is not ANY and entry["current"] != expected_current:
                refusal = (f"the current version changed to {entry['current'] or 'none'} (from "
                           f"{expected_current or 'none'}) while this {action} was being decided: another "
                           f"{action} won; look at the history and decide again")
            else:
                refusal = self._refusal(record, current, approver_kind, breaking_ok)
            if refusal:
                self._log(data, action, record, "refused", refusal, by=by, reason=reason)
            else:
                if current is not None:
                    current["status"] = "superseded"
                record["status"] = "current"
                record["promoted"] = {"by": approved_by, "kind": approver_kind, "reason": reason, "at": _now(),
                                      "action": action, "replaced": None if current is None else current["version"]}
                entry["previous"], entry["current"] = entry["current"], record["version"]
                was = entry["previous"] or "no version"
                self._log(data, action, record, "done", f"now current (was {was})", by=by, reason=reason)
        if refusal:
            raise PromotionRefused(f"{action} of {name}@{version} refused: {refusal}")
        return record

    def _refusal(self, record: dict, current: Optional[dict], approver_kind: str,
                 breaking_ok: bool = False) -> Optional[str]:
        """Why ``record`` may not become current, or None when every check passes."""
        tests = record["tests"]
        if record["status"] == "current":
            return "it is already the current version"
        if tests is None:
            return "it has never been tested (run: pxos-kernel cartridge test NAME@VERSION)"
        if not tests["passed"]:
            return f"its last test run failed: {failure_summary(tests)}"
        if tests.get("sha256") != record["sha256"]:
            return "its test results are for different archive bytes"
        breaking = record["breaking"] or bool(current and current["breaking"])
        if breaking and approver_kind != "human":
            return "it crosses a breaking change, which needs a human approver"
        if breaking and not breaking_ok:
            label = f"{record['name']}@{(record if record['breaking'] or current is None else current)['version']}"
            return (f"it crosses a breaking change ({label}; see: pxos-kernel evolve show {label}), which a human "
                    "accepts only with --breaking-ok")
        try:
            self._verified_object(record)
        except IntegrityError as exc:
            return str(exc)
        return None

    def _verified_object(self, record: dict) -> Path:
        path = self.objects / record["sha256"][:2] / f"{record['sha256']}.pxa"
        if not path.is_file():
            raise IntegrityError(f"the archive of {record['name']}@{record['version']} is missing from {path}")
        if file_sha256(path) != record["sha256"]:
            raise IntegrityError(f"the archive of {record['name']}@{record['version']} at {path} no longer "
                                 "matches its sha256")
        return path


def guardrail_results(report: Mapping[str, Any]) -> dict:
    """What a test record keeps of a Genesis report: counts, and each item's status, evidence and violations."""
    return {"counts": report["counts"], "compliant": report["compliant"],
            "items": [{k: i[k] for k in ("id", "status", "evidence", "violations")} for i in report["items"]]}


def failure_summary(tests: Mapping[str, Any], most: int = 3) -> str:
    """What made a test run fail, named: the tests that failed, then each failed guardrail and its violation."""
    parts = []
    for suite in tests.get("suites") or []:
        if not suite.get("passed"):
            parts.append(f"the tests of {suite['distribution']} failed ({_counts(suite)})")
    if not tests.get("suites") and (tests.get("status") != "ok" or tests.get("exit_code") != 0):
        parts.append(f"its tests ended {tests.get('status')} with exit code {tests.get('exit_code')} "
                     f"({_counts(tests)})" + (f": {tests['error']}" if tests.get("error") and
                                              not str(tests["error"]).startswith("exit") else "")
                     + (f"; its output ends: {_last_line(tests.get('output'))}"
                        if _last_line(tests.get("output")) else ""))
    if tests.get("scope") == "partial":
        parts.append(f"only the tests of {', '.join(tests.get('distributions') or [])} ran (a full test run is "
                     "needed)")
    failed = [i for i in ((tests.get("guardrails") or {}).get("items") or []) if i.get("status") == "failed"]
    for item in failed[:most]:
        why = (item.get("violations") or [item.get("evidence")])[0]
        parts.append(f"guardrail {item['id']} failed: {why}")
    if len(failed) > most:
        parts.append(f"and {len(failed) - most} more guardrail(s) failed")
    return "; ".join(parts) or "it did not pass (no failure was recorded)"


def _last_line(output: Any) -> str:
    """The last non-blank line of a test run's output (what a refusal quotes so it can be diagnosed)."""
    lines = [line.strip() for line in str(output or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _counts(tests: Mapping[str, Any]) -> str:
    counts = tests.get("counts") or {}
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no test counts"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container: still a human, say so
        return os.environ.get("USER") or "unknown"


def resolve_for_run(kernel: Any, cartridge: str) -> tuple[Path, bool, str]:
    """``(archive path, is current, label)`` for ``run --cartridge CARTRIDGE``.

    ``CARTRIDGE`` is ``NAME``, ``NAME@VERSION`` or the path of a ``.pxa``
    file (which, not being registered, is never current).
    """
    if cartridge.endswith(".pxa") or os.sep in cartridge:
        path = Path(cartridge).absolute()
        if not path.is_file():
            raise NotFoundError(f"cartridge archive {path} does not exist")
        return path, False, path.stem
    registry = CartridgeRegistry(kernel)
    record = registry.get(cartridge)
    path = registry._verified_object(record)
    return path, record["status"] == "current", f"{record['name']}@{record['version']}"
