"""The cartridge registry: every version of every cartridge, its lineage, tests and status.

State lives in ``PXOS_HOME/cartridges/``::

    registry.json          the records and the history of every attempt (rewritten atomically)
    registry.lock          an fcntl lock held while the registry is read-modified-written
    objects/ab/<sha>.pxa   archives, content-addressed by the sha256 of their bytes; never deleted

A version moves ``experimental`` -> (``failed``) -> ``current`` -> ``superseded``.
Every transition, and every refused attempt, is appended to the history and
written to the ledger. A registry file that cannot be parsed is refused and
left exactly as it is. All of that is the kernel's
:class:`pxos_kernel.VersionRegistry`; what is the cartridges' own is here: a
version is a validated archive with a builder and capabilities, and becomes
current only after its sandboxed tests and guardrails passed (a breaking change
only with a human who accepts it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel import NotFoundError, Progress, VersionRegistry, current_user

from pxos_cartridge.archive import PathLike, open_archive
from pxos_cartridge.errors import PromotionRefused, RegistryCorruptError, RegistryError
from pxos_cartridge.manifest import NAME

FORMAT = "pxos-cartridge-registry"
STATUSES = ("experimental", "failed", "current", "superseded")
BUILDER_KINDS = ("human", "llm")
VERSION = VersionRegistry.VERSION
CORRIDOR = "DISTRICT_5.CHAMBER_CARTRIDGE.NODE_{}"
#: ``expected_current`` default: promote whatever is current.
ANY: Any = VersionRegistry.ANY
_now = VersionRegistry.timestamp


class CartridgeRegistry(VersionRegistry):
    """The registry of one kernel's ``PXOS_HOME``. Safe to use from many processes at once."""

    FORMAT, SECTION, NOUN, OBJECT, SUFFIX = FORMAT, "cartridges", "cartridge", "archive", ".pxa"
    LEDGER = ("CARTRIDGE", CORRIDOR, "pxos-cartridge")
    #: What every stored version record holds, and its type (the code reads these without checking).
    RECORD_FIELDS = {"name": str, "version": str, "status": str, "sha256": str, "generation": int, "created": str,
                     "builder": dict, "manifest": dict, "breaking": bool}
    LATEST_IF_NO_CURRENT = True
    Error, CorruptError, Refused = RegistryError, RegistryCorruptError, PromotionRefused

    def __init__(self, kernel: Any) -> None:
        super().__init__(Path(kernel.home) / "cartridges", kernel)
        self.objects = self.root / "objects"

    # -- queries ---------------------------------------------------------------------------

    def archive_path(self, name: str, version: Optional[str] = None) -> Path:
        """Where the version's .pxa is stored."""
        return self._content_path(self.get(name, version)["sha256"])

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
        builder = dict(builder or {"kind": "human", "who": current_user()})
        if builder.get("kind") not in BUILDER_KINDS or not str(builder.get("who") or "").strip():
            raise RegistryError(f"builder {builder!r} must have kind human or llm and a non-empty who")
        capabilities = list(manifest.get("capabilities", []) if capabilities is None else capabilities)
        sha = opened.sha256
        stored = self._store(opened.path, sha)
        with self._transaction() as data:
            entry = self._entry(data, name, create=True)
            versions = entry["versions"]
            if parent is None:
                parent = entry["current"] or (list(versions)[-1] if versions else None)
            elif parent not in versions:
                raise RegistryError(f"parent {name}@{parent} is not registered")
            generation = 0 if parent is None else versions[parent]["generation"] + 1
            version = str(version or manifest.get("version") or f"g{generation}")
            self._check_new_version(entry, name, version)
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
        path = self._stored(record)
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
            self._log(data, "test", record, "passed" if passed else "failed", detail, by="",
                      run_id=results.get("run_id"))
        return record

    def record_benchmarks(self, name: str, version: Optional[str], figures: Mapping[str, Any]) -> dict:
        """Keep benchmark ``figures`` measured for a version (``world show`` displays them)."""
        with self._transaction() as data:
            stored = self._record(data, name, version)
            stored["benchmarks"] = dict(figures)
            self._log(data, "benchmark", stored, "done", f"{len(figures)} figure(s) recorded", by="")
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
        return self._transition("promote", name, version, approved_by, reason, approver_kind, expected_current,
                                breaking_ok)

    def rollback(self, name: str, to_version: Optional[str] = None, *, approved_by: str, reason: str,
                 approver_kind: str = "human", expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        """Make an earlier version current again (default: the one current before), with the same checks."""
        return self._transition("rollback", name, to_version, approved_by, reason, approver_kind,
                                expected_current, breaking_ok)

    def _transition(self, action: str, name: str, version: Optional[str], approved_by: str, reason: str,
                    approver_kind: str, expected_current: Any, breaking_ok: bool) -> dict:
        if approver_kind not in BUILDER_KINDS:
            raise RegistryError(f"approver kind {approver_kind!r} must be human or llm")
        return self._make_current(action, name, version, approved_by=approved_by, reason=reason,
                                  approver_kind=approver_kind, expected_current=expected_current,
                                  refusal=lambda data, record, current: self._refusal(record, current, approver_kind,
                                                                                      breaking_ok))

    def _refusal(self, record: dict, current: Optional[dict], approver_kind: str,
                 breaking_ok: bool = False) -> Optional[str]:
        """Why ``record`` may not become current, or None when every check passes."""
        tests = record["tests"]
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
        return None

    def _verified_object(self, record: Mapping[str, Any]) -> Path:
        """The version's stored archive, checked against its sha256 (``world ...`` reads it so)."""
        return self._stored(record)


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


split_ref = CartridgeRegistry.split_ref
