"""``evolve build PROPOSAL``: from a proposal to a registered, tested, judged version, or a kept failure.

The stages, each bounded by the build timeout; the first that fails ends the
build with its one-line reason:

``workspace``   claim a fresh workspace under ``PXOS_HOME`` (at most ``max_in_flight`` at once);
``parent``      find the version the proposal was made against;
``patch``       unpack it, check that the patch only changes files it has, apply the patch;
``syntax``      every Python, YAML, TOML and JSON file the patch touched still parses;
``manifest``    reserve the new version and write it into the manifest;
``breaking``    compare the contract surfaces of parent and candidate (the pipeline decides);
``pack``        pack candidate archive A;
``tests``       run A's tests in the kernel sandbox;
``guardrails``  run every guardrail on A;
``compliance``  write GENESIS_COMPLIANCE.md (each Genesis item with its evidence from this build) and pack B,
                which differs from A by that file alone (checked member by member);
``register``    register B as ``experimental``, or ``failed`` when its tests or a guardrail failed.

Nothing is ever promoted here. Whatever happens, the outcome is an
``EVOLVE`` record in the ledger: ``experimental``, ``failed`` or
``interrupted``, with its reason. A failed or interrupted build keeps its
workspace (the patched tree, the archives, the full test log), so the failing
code and the real test output are kept as learning data.
"""

from __future__ import annotations

import errno
import hashlib
import json
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from pxos_kernel import Progress, PxosError, progress

from pxos_genesis.evolve import CORRIDOR_BUILD
from pxos_genesis.evolve.breaking import judge
from pxos_genesis.evolve.patches import FileChange, PatchError, apply_patch, changed_files, check_targets
from pxos_genesis.evolve.proposals import ProposalRecord, load_proposal
from pxos_genesis.evolve.surface import read_surface
from pxos_genesis.evolve.targets import COMPLIANCE_FILE, BuildFailure, first_error_line, target_for
from pxos_genesis.evolve.workspace import Deadline, LimitExceeded, Limits, Workspace

OUTPUT_TAIL = 4000


class BuildInterrupted(BaseException):
    """A signal asked the build to stop (a BaseException, so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class BuildResult:
    """What one build did; :meth:`as_dict` is its ledger payload."""

    build: str
    proposal: str
    cartridge: str
    parent: str
    builder: dict
    version: str = ""
    status: str = "failed"  # experimental | failed | interrupted
    stage: str = "workspace"
    reason: str = ""
    registered: bool = False
    sha256: str = ""
    workspace: str = ""
    kept: bool = False
    changes: list = field(default_factory=list)
    breaking: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    guardrails: dict = field(default_factory=dict)
    benchmarks: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # seconds spent in each stage
    ledger_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.cartridge}@{self.version}" if self.version else self.cartridge

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 130
        return 0 if self.status == "experimental" else 1

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "ledger_id"}


def build(kernel: Any, proposal_id: str, *, allow_unisolated: bool = False) -> BuildResult:
    """Build ``proposal_id``; the outcome is in the ledger whatever happens.

    Raises only for bad input that names no buildable proposal (an unknown or
    corrupt proposal record) and for limits reached before a workspace exists.
    """
    proposal = load_proposal(kernel, proposal_id)
    limits = Limits.from_kernel(kernel)
    workspace = Workspace.claim(kernel, proposal.cartridge, limits)
    result = BuildResult(workspace.build_id, proposal.id, proposal.cartridge, proposal.parent,
                         builder=dict(proposal.builder), workspace=str(workspace.path))
    agent = proposal.by
    start = kernel.checkpoint("EVOLVE", "evolve_start", {
        "build": result.build, "proposal": proposal.id, "cartridge": proposal.cartridge, "parent": proposal.parent,
        "workspace": result.workspace, "allow_unisolated": allow_unisolated}, corridor=CORRIDOR_BUILD, agent=agent)
    try:
        build = Build(kernel, proposal, workspace, limits, result, allow_unisolated)
        with _stop_on_signals(), progress(description=f"evolve build {proposal.id}", total=build.stages(),
                                          unit="stage") as bar:
            build.run(bar)
        result.status, result.stage = "experimental", "done"
    except BuildInterrupted as stop:
        result.status = "interrupted"
        result.reason = f"interrupted by {stop} during {result.stage}; the workspace is kept at {workspace.path}"
    except KeyboardInterrupt as stop:  # SIGINT, or any signal the sandbox caught while the tests ran
        result.status = "interrupted"
        name = signal.Signals(getattr(stop, "signum", signal.SIGINT)).name
        result.reason = f"interrupted by {name} during {result.stage}; the workspace is kept at {workspace.path}"
    except BuildFailure as failure:
        result.stage, result.reason = failure.stage, failure.reason
    except PxosError as exc:
        result.reason = str(exc)
    except Exception as exc:  # a bug of this pipeline, or of code it called: still a kept, recorded experiment
        workspace.save("traceback.txt", traceback.format_exc())
        result.reason = (f"internal error during {result.stage}: {type(exc).__name__}: {exc} "
                         f"(traceback in {workspace.path / 'traceback.txt'})")
    result.kept = result.status != "experimental"
    if result.kept:
        workspace.save("build.json", result.as_dict())
    workspace.finish(keep=result.kept)
    payload = {**result.as_dict(), "start": start["id"]}
    record = kernel.checkpoint("EVOLVE", "evolve_build", payload, corridor=CORRIDOR_BUILD, agent=agent)
    result.ledger_id = record["id"]
    return result


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into BuildInterrupted while a build runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise BuildInterrupted(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


#: The stages of a build, in order (``benchmarks`` only where the target has benchmarks).
STAGES = ("parent", "patch", "syntax", "manifest", "pack", "breaking", "tests", "guardrails", "benchmarks",
          "compliance", "register")


class Build:
    """One run through the stages; every stage records what it found in ``result``."""

    def __init__(self, kernel: Any, proposal: ProposalRecord, workspace: Workspace, limits: Limits,
                 result: BuildResult, allow_unisolated: bool = False) -> None:
        self.kernel, self.proposal, self.workspace, self.limits, self.result = \
            kernel, proposal, workspace, limits, result
        self.allow_unisolated = allow_unisolated
        self.target = target_for(kernel, proposal.cartridge)
        self.deadline = Deadline(limits.build_timeout)
        self._since = time.monotonic()
        self._progress: Optional[Progress] = None

    def stages(self) -> int:
        """How many stages :meth:`run` goes through when every one is reached."""
        return len(STAGES) - (0 if hasattr(self.target, "benchmarks") else 1)

    def stage(self, name: str) -> None:
        self._tick()
        if self._progress is not None:
            self._progress.phase(name)
        self.result.stage = name
        try:
            self.deadline.remaining(name)
        except LimitExceeded as exc:
            raise BuildFailure(name, str(exc)) from None

    def _tick(self) -> None:
        """Add the time since the last tick to the stage that was running."""
        now = time.monotonic()
        stage = self.result.stage
        self.result.timings[stage] = round(self.result.timings.get(stage, 0.0) + now - self._since, 3)
        self._since = now

    def run(self, progress: Optional[Progress] = None) -> None:
        """Go through the stages, each shown as a phase of ``progress``."""
        self._since = time.monotonic()
        self._progress = progress
        try:
            self._stages()
        finally:
            self._tick()

    def _stages(self) -> None:
        r, tree = self.result, self.workspace.tree
        self.stage("parent")
        parent = self.target.parent(self.proposal.parent)
        self.stage("patch")
        self.workspace.save("proposal.patch", self.proposal.patch)
        packed = self.target.unpack(parent, tree)
        self._size("after unpacking")
        parent_surface = read_surface(tree)  # read before patching: the parent is unpacked once
        changes = self._apply(tree)
        self.stage("syntax")
        self._syntax(tree, changes)
        self.stage("manifest")
        r.version, packed = self.target.new_version(tree, packed, r.build)
        manifest = self.target.prepare(tree, packed, r.version, changes)
        self.stage("pack")
        candidate = self.workspace.path / "candidate.pxa"
        self._pack(tree, candidate, manifest)
        self.stage("breaking")
        r.breaking = self._breaking(parent, parent_surface, candidate)
        self.stage("tests")
        r.tests = self._tests(tree, manifest, changes, candidate)
        if r.tests["status"] == "timeout":  # the build's time is spent: nothing after this could run
            raise BuildFailure("tests", _tests_line(r.tests))
        self.stage("guardrails")
        report = self._guardrails(candidate, parent)
        if hasattr(self.target, "benchmarks") and r.tests["passed"]:  # a failing candidate is not worth timing
            self.stage("benchmarks")
            r.benchmarks = self.target.benchmarks(parent, candidate, rounds=self.limits.bench_rounds,
                                                  timeout=self.deadline.remaining("benchmarks"),
                                                  allow_unisolated=self.allow_unisolated)
        self.stage("compliance")
        (tree / COMPLIANCE_FILE).write_text(self._compliance(report), encoding="utf-8")
        final = self.workspace.path / f"{r.cartridge}-{r.version}.pxa"
        self._pack(tree, final, manifest)
        _same_members_but_compliance(candidate, final)
        self.stage("register")
        self._register(final)
        failures = self._failures()
        if failures:
            raise BuildFailure(failures[0][0], failures[0][1])

    # -- stages ---------------------------------------------------------------------------------

    def _size(self, what: str) -> None:
        try:
            self.workspace.check_size(self.limits, what)
        except LimitExceeded as exc:
            raise BuildFailure(self.result.stage, str(exc)) from None

    def _apply(self, tree: Path) -> list[FileChange]:
        try:
            changes = changed_files(self.proposal.patch)
            check_targets(changes, tree, self.target.label(self.result.parent))
            apply_patch(self.proposal.patch, tree)
        except PatchError as exc:
            raise BuildFailure("patch", str(exc)) from None
        self.result.changes = [{"path": c.path, "action": c.action} for c in changes]
        self._size("after patching")
        return changes

    def _syntax(self, tree: Path, changes: list[FileChange]) -> None:
        from pxos_genesis.evolve.syntax import syntax_problems

        problems = syntax_problems(tree, [c.path for c in changes if c.action != "delete"])
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise BuildFailure("syntax", problems[0] + more)

    def _pack(self, tree: Path, dest: Path, manifest: dict) -> None:
        try:
            self.target.pack(tree, dest, manifest)
        except OSError as exc:
            _remove_partial(dest)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise BuildFailure(self.result.stage, f"disk full while packing {dest.name} ({exc.strerror}); "
                                   "no partial archive was registered") from None
            raise BuildFailure(self.result.stage, f"packing {dest.name} failed: {exc}") from None
        except PxosError as exc:
            _remove_partial(dest)
            raise BuildFailure(self.result.stage, f"packing failed: {exc}") from None
        self._size(f"after packing {dest.name}")

    def _breaking(self, parent: dict, parent_surface: Any, candidate: Path) -> dict:
        """The pipeline's judgement: the static contract surfaces, and the commands where the target has any."""
        candidate_surface = read_surface(self.workspace.tree)
        if not hasattr(self.target, "cli_surfaces"):
            return judge(parent_surface, candidate_surface).as_dict()
        before, after = self.target.cli_surfaces(parent, candidate, timeout=self.deadline.remaining("breaking"),
                                                 allow_unisolated=self.allow_unisolated)
        return judge(parent_surface, candidate_surface, before, after).as_dict()

    def _tests(self, tree: Path, manifest: dict, changes: list[FileChange], archive: Path) -> dict:
        """The candidate's tests, run for real in the kernel sandbox; the full output kept in the workspace."""
        tests = self.target.run_tests(
            archive=archive, packed=manifest, changes=changes, tree=tree,
            label=f"evolve build {self.result.build} tests", timeout=self.deadline.remaining("tests"),
            allow_unisolated=self.allow_unisolated)
        output = tests.pop("output", "")
        tests["log"] = str(self.workspace.save("tests.log", output))
        tests["output"] = output[-OUTPUT_TAIL:]
        tests["first_error"] = None if tests["passed"] else first_error_line(output)
        return tests

    def _guardrails(self, archive: Path, parent: dict) -> dict:
        from pxos_genesis.subject import Candidate

        r = self.result
        planned = {"version": r.version, "parent": r.parent, "generation": parent.get("generation", 0) + 1,
                   "builder": {"kind": r.builder.get("kind"), "who": r.builder.get("who")},
                   "notes": self._notes(), "status": "experimental"}
        record = self.kernel.ledger.find(self.proposal.id)
        candidate = Candidate(r.cartridge, r.version, archive, planned=planned, tests=r.tests, proposal=record,
                              building=True)
        report = self.kernel.hypervisor.validate_genesis(candidate, {"building": True})
        r.guardrails = {"counts": report["counts"],
                        "failed_items": [{"id": i["id"], "evidence": i["evidence"], "violations": i["violations"]}
                                         for i in report["items"] if i["status"] == "failed"],
                        "items": [{k: i[k] for k in ("id", "status", "evidence", "violations")}
                                  for i in report["items"]]}
        return report

    def _compliance(self, report: dict) -> str:
        from pxos_genesis.compliance import render

        r, tests = self.result, self.result.tests
        breaking = r.breaking
        lines = [f"Built by the evolution pipeline (build {r.build}) from proposal {r.proposal} "
                 f"({r.builder.get('kind')}: {r.builder.get('who')}), parent version {r.parent}.",
                 f"Tests ({tests['what']}: {' '.join(tests['command'])}) ran in the sandbox: {tests['status']}, "
                 f"exit code {tests['exit_code']}, {json.dumps(tests['counts'], sort_keys=True)} "
                 f"(ledger run {tests['run_id']}).",
                 "Breaking change (judged by the pipeline, not the patch): "
                 + ("yes: " + "; ".join(breaking["reasons"]) if breaking.get("breaking") else "no") + ".",
                 "The guardrails judged the candidate archive before this file was added; the archive differs "
                 "from it by this file alone."]
        figures = (r.benchmarks or {}).get("figures")
        if figures:
            lines.append("Benchmarks beside the parent's, measured side by side in one sandboxed run: " + "; ".join(
                f"{name} {f['build ms']} ms (parent {f['parent ms']} ms, x{f['ratio']})"
                for name, f in sorted(figures.items())) + ".")
        return render(report, cartridge=r.label, built_from="\n\n".join(lines))

    def _notes(self) -> str:
        return f"{self.proposal.goal} (evolution proposal {self.proposal.id}; reasoning in the ledger)"

    def _register(self, final: Path) -> None:
        from pxos_cartridge.archive import file_sha256

        r = self.result
        record = self.target.register(final, version=r.version, parent=r.parent,
                                      builder={"kind": r.builder["kind"], "who": r.builder["who"]},
                                      notes=self._notes(), breaking=bool(r.breaking.get("breaking")))
        r.registered, r.sha256 = True, record["sha256"]
        results = {k: v for k, v in r.tests.items() if k != "log"}
        results.update(sha256=r.sha256, tested_sha256=file_sha256(self.workspace.path / "candidate.pxa"),
                       guardrails={"counts": r.guardrails["counts"], "compliant": False,
                                   "items": r.guardrails["items"]})
        results["passed"] = not self._failures()
        self.target.record_tests(r.version, results)
        if r.benchmarks.get("figures"):
            self.target.record_benchmarks(r.version, r.benchmarks["figures"])

    def _failures(self) -> list[tuple[str, str]]:
        """(stage, one line) for the tests and every failed guardrail, tests first."""
        found = []
        tests = self.result.tests
        if not tests["passed"]:
            found.append(("tests", _tests_line(tests)))
        for item in self.result.guardrails["failed_items"]:
            found.append(("guardrails", f"guardrail {item['id']} failed: "
                          f"{'; '.join(item['violations']) or item['evidence']}"))
        if self.result.benchmarks.get("error"):
            found.append(("benchmarks", self.result.benchmarks["error"]))
        return found


def _tests_line(tests: dict) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in sorted(tests.get("counts", {}).items()))
    if tests["status"] == "timeout":
        return f"tests timed out: {tests.get('error')}"
    if not counts:  # the run ended before pytest could summarise (killed, a limit, a crash)
        detail = tests.get("first_error") or tests.get("error") or "no test summary in its output"
        return f"tests {tests['status']} (exit code {tests['exit_code']}): {detail}"
    first = f": {tests['first_error']}" if tests.get("first_error") else ""
    return f"tests failed ({counts}; exit code {tests['exit_code']}){first}"


def _remove_partial(path: Path) -> None:
    """Remove what a failed pack left at ``path`` (a link is removed, never what it points to)."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except OSError:
        pass


def _same_members_but_compliance(first: Path, final: Path) -> None:
    """BuildFailure unless ``final`` holds exactly ``first``'s members plus the compliance file."""
    from pxos_cartridge.archive import open_archive

    def members(path: Path) -> dict:
        archive = open_archive(path)
        return {m: hashlib.sha256(archive.read(m)).hexdigest() for m in archive.names()}

    before, after = members(first), members(final)
    after.pop(COMPLIANCE_FILE, None)
    before.pop(COMPLIANCE_FILE, None)
    if before != after:
        differ = sorted(set(before.items()) ^ set(after.items()))
        raise BuildFailure("compliance", f"the final archive differs from the tested one beyond {COMPLIANCE_FILE}: "
                           f"{differ[0][0]}")
    if COMPLIANCE_FILE not in open_archive(final).names():
        raise BuildFailure("compliance", f"{COMPLIANCE_FILE} was not packed into {final.name}")
