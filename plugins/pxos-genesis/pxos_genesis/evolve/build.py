"""``evolve build PROPOSAL``: from a proposal to a registered, tested, judged cartridge version.

The steps, each bounded by the build timeout:

1. claim a workspace under ``PXOS_HOME`` (at most ``max_in_flight`` at once);
2. unpack the version the proposal was made against (the current one, or the
   latest when none is current, at proposal time) and apply the patch
   (paths judged first; nothing outside the tree can be touched);
3. give the tree its new version and pack candidate archive A;
4. run A's own tests in the kernel sandbox, then every guardrail on A;
5. write GENESIS_COMPLIANCE.md from that report, pack archive B;
6. register B (builder: the proposal's author) and let the registry test it
   for real, which marks it ``experimental`` or ``failed``;
7. write the outcome to the ledger. Nothing is ever promoted here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pxos_kernel.errors import PxosError
from pxos_kernel.files import atomic_write

from pxos_genesis.evolve import CORRIDOR_BUILD
from pxos_genesis.evolve.patches import apply_patch
from pxos_genesis.evolve.proposals import load_proposal
from pxos_genesis.evolve.testrun import DEFAULT_COMMAND, counts
from pxos_genesis.evolve.workspace import Deadline, Limits, Workspace

TEST_ENTRY = "pxos_genesis.evolve.testrun:run_tests"
COMPLIANCE_FILE = "GENESIS_COMPLIANCE.md"
_SEMVER_TAIL = re.compile(r"^(.*?)(\d+)$")


@dataclass
class BuildResult:
    """What one build did; ``as_dict`` is also its ledger payload."""

    proposal: str
    cartridge: str
    parent: str
    version: str = ""
    status: str = "refused"  # experimental | failed | refused (nothing registered)
    registered: bool = False
    builder: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    guardrails: dict = field(default_factory=dict)
    registry_tests: dict = field(default_factory=dict)
    sha256: str = ""
    error: str = ""
    ledger_id: str = ""

    @property
    def refusals(self) -> list[str]:
        """Which guardrails and tests failed, one line each."""
        seen, lines = set(), []
        for item in self.guardrails.get("failed_items", []) + self.registry_tests.get("failed_items", []):
            line = f"guardrail {item['id']} failed: {'; '.join(item['violations']) or item['evidence']}"
            if line not in seen:
                seen.add(line)
                lines.append(line)
        if self.tests and not self.tests.get("passed"):
            lines.append(f"tests {self.tests.get('status')} (exit code {self.tests.get('exit_code')})")
        if self.error:
            lines.append(self.error)
        return lines

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "ledger_id"}


def build(kernel: Any, proposal_id: str) -> BuildResult:
    """Build ``proposal_id``; the result is in the ledger whatever happens."""
    from pxos_genesis.subject import registry

    proposal = load_proposal(kernel, proposal_id)
    p = proposal["payload"]
    reg = registry(kernel)
    # The version the proposal was made against (the current one when it was proposed): its patch fits it.
    base = reg.get(p["cartridge"], p["base_version"])
    result = BuildResult(proposal_id, p["cartridge"], base["version"], builder=dict(p["author"]))
    limits = Limits.from_kernel(kernel)
    workspace = Workspace.claim(kernel, p["cartridge"], limits)
    try:
        _build_in(kernel, reg, workspace, limits, proposal, base, result)
    except PxosError as exc:
        result.error = str(exc)
    finally:
        workspace.release()
    payload = result.as_dict()
    payload["registered"] = result.registered
    record = kernel.checkpoint("EVOLVE", "evolve_build", payload, corridor=CORRIDOR_BUILD,
                               agent=f"{result.builder.get('kind')}:{result.builder.get('who')}")
    result.ledger_id = record["id"]
    return result


def _build_in(kernel: Any, reg: Any, workspace: Workspace, limits: Limits, proposal: dict, base: dict,
              result: BuildResult) -> None:
    from pxos_cartridge.archive import open_archive, pack_tree

    deadline = Deadline(limits.build_timeout)
    p = proposal["payload"]
    parent = open_archive(reg.archive_path(base["name"], base["version"]))
    parent.extract(workspace.tree)
    workspace.check_size(limits, "after unpacking")
    apply_patch(p["patch"], workspace.tree)
    workspace.check_size(limits, "after patching")

    result.version = next_version(reg, base["name"], base["version"])
    manifest = _manifest_with_version(workspace.tree, parent.manifest, result.version)
    first = workspace.path / "candidate.pxa"
    deadline.remaining("packing")
    pack_tree(workspace.tree, first, manifest=manifest)
    workspace.check_size(limits, "after packing")

    result.tests = run_tests(kernel, first, manifest, deadline.remaining("testing"))
    report = judge(kernel, base, result, first, proposal)
    result.guardrails = summary(report)

    text = render_compliance(report, result, proposal)
    atomic_write(workspace.tree / COMPLIANCE_FILE, text.encode("utf-8"))
    final = workspace.path / f"{base['name']}-{result.version}.pxa"
    pack_tree(workspace.tree, final, manifest=manifest)
    workspace.check_size(limits, "after the final pack")

    record = reg.register(final, name=base["name"], version=result.version, parent=base["version"],
                          builder={"kind": p["author"]["kind"], "who": p["author"]["who"]},
                          notes=f"{p['goal']} (evolution proposal {proposal['id']}; reasoning in the ledger)")
    result.registered, result.sha256 = True, record["sha256"]
    # Link the version to its proposal before the registry judges it: the §7/§10 guardrails look for this.
    kernel.checkpoint("EVOLVE", "evolve_register", {
        "proposal": proposal["id"], "cartridge": base["name"], "version": result.version, "registered": True,
        "builder": result.builder, "sha256": result.sha256}, corridor=CORRIDOR_BUILD,
        agent=f"{result.builder.get('kind')}:{result.builder.get('who')}")
    record = reg.test(base["name"], result.version, timeout=deadline.remaining("the registry's test run"))
    result.status = record["status"]
    tests = record.get("tests") or {}
    result.registry_tests = {k: tests.get(k) for k in ("passed", "status", "exit_code", "counts", "run_id")}
    guardrails = tests.get("guardrails") or {}
    result.registry_tests["guardrails"] = guardrails.get("counts")
    result.registry_tests["failed_items"] = [
        {"id": i["id"], "evidence": i["evidence"], "violations": i.get("violations", [])}
        for i in guardrails.get("items", []) if i.get("status") == "failed"]


def next_version(reg: Any, name: str, parent: str) -> str:
    """The parent's version with its last number raised until unused (``1.0.0`` -> ``1.0.1``)."""
    taken = {r["version"] for r in reg.list(name)}
    match = _SEMVER_TAIL.match(parent)
    head, number = (match.group(1), int(match.group(2))) if match else (parent + ".", 0)
    while True:
        number += 1
        candidate = f"{head}{number}"
        if candidate not in taken:
            return candidate


def _manifest_with_version(tree: Path, packed: dict, version: str) -> dict:
    """The tree's manifest (as patched, else as packed) carrying the new version; cartridge.yaml updated too."""
    import yaml

    path = tree / "cartridge.yaml"
    manifest = dict(packed or {})
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise PxosError(f"the patched cartridge.yaml is not a mapping: {type(loaded).__name__}")
        manifest = loaded
        manifest["version"] = version
        atomic_write(path, yaml.safe_dump(manifest, sort_keys=False).encode("utf-8"))
    manifest["version"] = version
    return manifest


def run_tests(kernel: Any, archive: Path, manifest: dict, timeout: float) -> dict:
    """The candidate's own test command, run for real in the kernel sandbox."""
    command = list((manifest.get("tests") or {}).get("command") or DEFAULT_COMMAND)
    run = kernel.hypervisor.run_program(TEST_ENTRY, [str(archive), *command], sandbox=True, capture=True,
                                        timeout=timeout)
    output = (run.stdout or "") + (run.stderr or "")
    return {"passed": run.status == "ok" and run.exit_code == 0, "status": run.status, "exit_code": run.exit_code,
            "error": run.error, "command": command, "counts": counts(output), "output": output[-4000:],
            "duration": round(run.duration, 3), "run_id": run.post_id, "sandbox": run.protections}


def judge(kernel: Any, base: dict, result: BuildResult, archive: Path, proposal: dict) -> dict:
    """Every registered guardrail on the candidate archive."""
    from pxos_genesis.subject import Candidate

    planned = {"version": result.version, "parent": base["version"], "generation": base.get("generation", 0) + 1,
               "builder": {"kind": result.builder.get("kind"), "who": result.builder.get("who")},
               "notes": proposal["payload"]["goal"], "status": "experimental"}
    candidate = Candidate(base["name"], result.version, archive, planned=planned, tests=result.tests,
                          proposal=proposal, building=True)
    return kernel.hypervisor.validate_genesis(candidate, {"building": True})


def summary(report: dict) -> dict:
    return {"counts": report["counts"],
            "failed_items": [{"id": i["id"], "evidence": i["evidence"], "violations": i["violations"]}
                             for i in report["items"] if i["status"] == "failed"]}


def render_compliance(report: dict, result: BuildResult, proposal: dict) -> str:
    from pxos_genesis.compliance import render

    tests = result.tests
    note = (f"Built by the evolution pipeline from proposal {proposal['id']} "
            f"({result.builder.get('kind')}: {result.builder.get('who')}), parent version {result.parent}. "
            f"Judged on the candidate archive before this file was added; its tests "
            f"({' '.join(tests['command'])}) ran in the sandbox: {tests['status']}, exit code {tests['exit_code']}, "
            f"{json.dumps(tests['counts'], sort_keys=True)} (ledger run {tests['run_id']}).")
    return render(report, cartridge=f"{result.cartridge}@{result.version}", built_from=note)
