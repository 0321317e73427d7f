"""The system cartridge registry: every packed pxOS, its tests, and which one boots.

It is the cartridge registry (:mod:`pxos_cartridge.registry`) under the reserved
cartridge name ``pxos``, so system versions get the same content-addressed
store, lineage, history, ledger records and lock as any cartridge. On top of
it: registration accepts only system cartridges (``world pack`` output), a test
run runs every distribution's own tests from the archive and every guardrail,
and promotion and rollback need a named human and a reason. ``current`` is
what ``python3 -I pxos.py`` boots.

Public API (used by ``world ...``, the evolution pipeline and the explorer)::

    systems = SystemRegistry(kernel)
    record = systems.register("pxos.pxa", notes="first self-hosted build")
    systems.test(record["version"])
    systems.promote(record["version"], approved_by="ada", reason="tests and guardrails pass")
    systems.current()            # the record that boots
    systems.archive_path(None)   # where the current archive is stored
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel import NotFoundError

from pxos_cartridge import boot
from pxos_cartridge.archive import PathLike, open_archive
from pxos_cartridge.errors import PromotionRefused, RegistryError
from pxos_cartridge.registry import ANY, CartridgeRegistry, guardrail_results, split_ref

SYSTEM = boot.SYSTEM
#: Limits of each suite of a world test (a command line's --timeout and the others override them).
TEST_LIMITS = {"timeout": 1800.0, "memory_mb": 8192, "cpu_seconds": 3600}


def version_of(ref: Optional[str]) -> Optional[str]:
    """``pxos@1.2`` or ``1.2`` -> ``1.2``; None stays None; another cartridge's name is refused."""
    if ref is None:
        return None
    name, version = split_ref(ref) if "@" in ref else (SYSTEM, ref)
    if name != SYSTEM:
        raise RegistryError(f"{ref!r} is not a system cartridge version: give VERSION or {SYSTEM}@VERSION")
    return version


def summary(system: Mapping[str, Any]) -> dict:
    """What a registry record keeps of an archive's system metadata."""
    return {
        "distributions": [{k: d[k] for k in ("name", "version", "role", "sha256", "native")}
                          for d in system.get("distributions", [])],
        "missing": list(system.get("missing", [])),
        "native": {k: v for k, v in (system.get("native") or {}).items() if k != "bundles"} |
        {"bundles": [b["name"] for b in (system.get("native") or {}).get("bundles", [])]},
        "python": dict(system.get("python") or {}),
        "tests": [s["distribution"] for s in system.get("tests", [])],
    }


# SystemRegistry.list shadows the builtin inside the class body, where its annotations are read.
Records = list[dict]


class SystemRegistry:
    """The system cartridges of one kernel's ``PXOS_HOME``."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.cartridges = CartridgeRegistry(kernel)

    # -- queries --------------------------------------------------------------------------------------

    def list(self) -> Records:
        try:
            return self.cartridges.list(SYSTEM)
        except NotFoundError:
            return []

    def get(self, ref: Optional[str] = None) -> dict:
        """One version's record (None: the current one, else the latest registered)."""
        if not self.list():
            raise NotFoundError("no system cartridge is registered: pack and register one with "
                                "'pxos-kernel world pack -o pxos.pxa && pxos-kernel world register pxos.pxa'")
        return self.cartridges.get(SYSTEM, version_of(ref))

    def current(self) -> Optional[dict]:
        return self.cartridges.current(SYSTEM)

    def lineage(self, ref: Optional[str] = None) -> Records:
        self.get(ref)
        return self.cartridges.lineage(SYSTEM, version_of(ref))

    def history(self) -> Records:
        return self.cartridges.history(SYSTEM)

    def archive_path(self, ref: Optional[str] = None) -> Path:
        """Where a version's archive is stored, checked against its sha256."""
        return self.cartridges._verified_object(self.get(ref))

    # -- transitions ------------------------------------------------------------------------------------

    def register(self, archive: PathLike, *, version: Optional[str] = None, parent: Optional[str] = None,
                 builder: Optional[Mapping[str, str]] = None, notes: str = "", breaking: bool = False) -> dict:
        """Validate a ``world pack`` archive, store it and record it as an ``experimental`` system version."""
        opened = open_archive(archive)
        system = opened.metadata.get("system")
        if not isinstance(system, dict) or opened.manifest.get("name") != SYSTEM:
            raise RegistryError(f"{opened.path} is a pixel archive but not a system cartridge (it has no system "
                                "metadata): pack one with 'pxos-kernel world pack'")
        return self.cartridges.register(opened.path, name=SYSTEM, version=version, parent=version_of(parent),
                                        builder=builder, notes=notes or opened.manifest.get("summary", ""),
                                        details=summary(system), breaking=breaking)

    def test(self, ref: Optional[str] = None, *, distributions: Optional[Sequence[str]] = None,
             limits: Optional[Mapping[str, Any]] = None, allow_unisolated: bool = False) -> dict:
        """Run, sandboxed, the tests of every distribution the system carries (or ``distributions``), then
        every guardrail against it; store the results in the record and return it.

        Each suite runs in its own sandboxed command (:meth:`kernel.hypervisor.run_command`): a fresh
        interpreter booted by the shim from the archive (``pxos.py --test-run``), so the code under test
        is the archive's; test tools the system does not carry (pytest, and what suites import only to
        test) come from this interpreter's site-packages, after the archive. The sandbox sees the
        unpacked test tree (writable), the archive and the shim (read-only). Tests marked
        ``source_tree`` need the repository itself and are deselected.
        """
        from pxos_cartridge.registry import _now
        from pxos_cartridge.system import normal

        record = self.get(ref)
        path = self.cartridges._verified_object(record)
        carried = list((record.get("system") or {}).get("tests") or [])
        chosen = None if distributions is None else sorted({normal(d) for d in distributions})
        unknown = sorted(set(chosen or []) - set(carried))
        if unknown:
            raise RegistryError(f"{SYSTEM}@{record['version']} carries no tests of {', '.join(unknown)} "
                                f"(it carries: {', '.join(carried) or 'none'})")
        if carried and subprocess.run([sys.executable, "-I", "-c", "import pytest"], capture_output=True).returncode:
            raise RegistryError(f"world test runs the suites with pytest from {sys.executable}, which cannot import "
                                "it: install it there (pip install pytest)")
        suites = self._run_suites(record, path, chosen, {**TEST_LIMITS, **(limits or {})}, allow_unisolated)
        counts: dict[str, int] = {}
        for suite in suites:
            for key, n in suite["counts"].items():
                counts[key] = counts.get(key, 0) + n
        complete = chosen is None
        tests_ok = all(s["passed"] for s in suites)
        results = {
            "passed": False, "ran_at": _now(), "command": ["world", "test"],
            "status": "ok" if tests_ok else "failed", "exit_code": 0 if tests_ok else 1,
            "counts": counts, "suites": suites, "scope": "complete" if complete else "partial",
            "distributions": [s["distribution"] for s in suites], "sha256": record["sha256"],
            "run_id": suites[0]["run_id"] if suites else None,
            "duration": round(sum(s["duration"] for s in suites), 3),
        }
        report = self.kernel.hypervisor.validate_genesis(SYSTEM, {
            "cartridge": SYSTEM, "version": record["version"], "archive": str(path), "record": dict(record),
            "tests": dict(results, passed=tests_ok and complete)})
        results["guardrails"] = guardrail_results(report)
        results["passed"] = tests_ok and complete and report["counts"]["failed"] == 0
        detail = (f"{len(suites)} suite(s): {', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'no tests'}"
                  f"; guardrails {report['counts']['passed']} passed, {report['counts']['failed']} failed, "
                  f"{report['counts']['unchecked']} unchecked")
        return self.cartridges.record_tests(SYSTEM, record["version"], results, detail)

    def _run_suites(self, record: dict, archive: Path, chosen: Optional[Sequence[str]], limits: Mapping[str, Any],
                    allow_unisolated: bool) -> Records:
        return run_suites(self.kernel, archive, record["sha256"], label=f"world test pxos@{record['version']}",
                          distributions=chosen, limits=limits, allow_unisolated=allow_unisolated)

    def promote(self, ref: str, *, approved_by: str, reason: str, approver_kind: str = "human",
                expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        """Make a tested system version the one that boots; only a named human may (with ``breaking_ok``
        when it crosses a breaking change)."""
        self._human_only("promote", approver_kind)
        record = self.get(ref)
        return self.cartridges.promote(SYSTEM, record["version"], approved_by=approved_by, reason=reason,
                                       approver_kind=approver_kind, expected_current=expected_current,
                                       breaking_ok=breaking_ok)

    def rollback(self, to: Optional[str] = None, *, approved_by: str, reason: str, approver_kind: str = "human",
                 expected_current: Any = ANY, breaking_ok: bool = False) -> dict:
        """Make an earlier system version boot again (default: the one current before)."""
        self._human_only("rollback", approver_kind)
        self.get(None)
        return self.cartridges.rollback(SYSTEM, version_of(to), approved_by=approved_by, reason=reason,
                                        approver_kind=approver_kind, expected_current=expected_current,
                                        breaking_ok=breaking_ok)

    def record_tests(self, ref: str, results: Mapping[str, Any], detail: Optional[str] = None) -> dict:
        """Keep the results of a test run made elsewhere (an evolution build's) with a version's record."""
        return self.cartridges.record_tests(SYSTEM, self.get(ref)["version"], results, detail)

    def record_benchmarks(self, ref: str, figures: Mapping[str, Any]) -> dict:
        """Keep one build's benchmark figures with its record (``world show`` displays them)."""
        return self.cartridges.record_benchmarks(SYSTEM, self.get(ref)["version"], figures)

    def _human_only(self, action: str, approver_kind: str) -> None:
        if approver_kind != "human":
            raise PromotionRefused(f"{action} of the system cartridge refused: only a named human may {action} "
                                   f"the system that boots (approver kind {approver_kind!r})")


def shim_path() -> Path:
    """The boot shim file a child process can run: the one that booted this process, else this package's."""
    from pxos_kernel import booted_system

    system = booted_system()
    if system is not None:
        return Path(system["shim"])
    return Path(os.path.abspath(boot.__file__))


def run_suites(kernel: Any, archive: Path, sha256: str, *, label: str, distributions: Optional[Sequence[str]] = None,
               limits: Mapping[str, Any], allow_unisolated: bool = False,
               extra: Sequence[tuple[str, bytes, Mapping[str, str]]] = ()) -> list[dict]:
    """Run the test suites a system archive carries (``distributions``: only those), each booted from the
    archive by the shim in a sandboxed command of its own; one result a suite, in order.

    ``extra`` adds suites of the caller's own, as ``(name, test module source, environment)``: each is
    written into the test tree and runs the same way (the evolution pipeline runs the kernel's
    conformance suites so).
    """
    from pxos_cartridge.testrun import parse_counts

    opened = open_archive(archive)
    carried = [s for s in (opened.metadata.get("system") or {}).get("tests", [])
               if distributions is None or s["distribution"] in distributions]
    shim = str(shim_path())
    results: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="pxos-world-test-"))
    try:
        tree = opened.extract(work / "tree", "source/")
        runs: list[tuple[str, Path, list[str], Mapping[str, str]]] = []
        for suite in carried:
            project = tree / suite["project"][len("source"):].strip("/")
            runs.append((suite["distribution"], project, [str(tree / p[len("source/"):]) for p in suite["paths"]], {}))
        for name, source, env in extra:
            own = tree / f".pxos-suite-{len(runs)}"
            own.mkdir()
            (own / f"test_{re.sub(r'[^A-Za-z0-9]+', '_', name)}.py").write_bytes(source)
            runs.append((name, own, [str(own)], env))
        for name, project, paths, env in runs:
            home = work / "tree" / f".pxos-home-{len(results)}"
            home.mkdir()
            argv = ["python", "-I", shim, "--world", str(archive), "--sha256", sha256, "--test-run",
                    "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not source_tree",
                    "--rootdir", str(project), *paths]
            run = kernel.hypervisor.run_command(
                argv, label=f"{label} {name}", cwd=str(project), read_only=[str(archive), shim],
                writable=[str(work / "tree")], limits=limits, allow_unisolated=allow_unisolated,
                env={"PXOS_HOME": str(home), **env}, details={"archive": str(archive), "distribution": name})
            output = (run.stdout or "") + (run.stderr or "")
            counts = parse_counts(output)
            passed = run.status == "ok" and run.exit_code == 0 or (run.exit_code == 5 and not counts.get("error"))
            results.append({"distribution": name, "passed": passed, "status": run.status,
                            "exit_code": run.exit_code, "counts": counts, "run_id": run.post_id,
                            "duration": round(run.duration, 3), "sandbox": run.protections,
                            **({} if passed else {"output": output[-4000:], "error": run.error})})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results
