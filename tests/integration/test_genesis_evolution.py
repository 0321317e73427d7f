"""End to end: Genesis guardrails and the evolution pipeline on a small example cartridge.

A human patch that improves the cartridge passes every guardrail and is
registered experimental; one that breaks its tests is registered failed with
the real pytest output; one that adds a network call is caught by §8; a human
promotion and a rollback both land in the ledger. An agent's proposal (through
``kernel.agent``) is built the same way and recorded as LLM-built.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from pxos_kernel import AgentSpec, hookimpl
from pxos_kernel.interfaces import Proposal, Readiness

EXAMPLES = Path(__file__).resolve().parents[2] / "plugins" / "pxos-genesis" / "examples"


@pytest.fixture
def wordcount(pxos_cli, tmp_path):
    """wordcount@1.0.0 packed, registered, tested and promoted by a human."""
    archive = tmp_path / "wordcount.pxa"
    assert pxos_cli("cartridge", "pack", str(EXAMPLES / "wordcount"), "-o", str(archive))[0] == 0
    assert pxos_cli("cartridge", "register", str(archive), "--by", "alice", "--notes", "first word counter")[0] == 0
    assert pxos_cli("cartridge", "test", "wordcount")[0] == 0
    assert pxos_cli("cartridge", "promote", "wordcount@1.0.0", "--approved-by", "alice", "--reason", "first")[0] == 0
    return pxos_cli


def propose(cli, patch: str, goal: str) -> str:
    code, out, err = cli("evolve", "propose", "--cartridge", "wordcount", "--goal", goal, "--patch",
                         str(EXAMPLES / "patches" / f"{patch}.patch"), "--reason", f"why: {goal}",
                         "--author", "alice", "--json")
    assert code == 0, err
    return json.loads(out)["proposal"]


def build(cli, proposal: str) -> tuple[int, dict]:
    code, out, err = cli("evolve", "build", proposal, "--json")
    return code, json.loads(out)


def show(cli, ref: str) -> dict:
    code, out, _ = cli("cartridge", "show", ref, "--json")
    assert code == 0
    return json.loads(out)


def genesis(cli, ref: str) -> dict:
    code, out, _ = cli("genesis", "--cartridge", ref, "--json")
    report = json.loads(out)
    return {item["id"]: item for item in report["items"]}


def test_improving_proposal_passes_every_guardrail_and_stays_experimental(wordcount, pxos_home):
    proposal = propose(wordcount, "improve", "count words separated by any whitespace")
    code, result = build(wordcount, proposal)
    assert code == 0 and result["status"] == "experimental" and result["version"] == "1.0.1"
    assert result["reason"] == "" and result["guardrails"]["counts"]["failed"] == 0
    assert result["breaking"] == {"breaking": False, "reasons": [], "changes": []}
    assert result["tests"]["passed"] and result["tests"]["counts"] == {"passed": 4}
    record = show(wordcount, "wordcount@1.0.1")
    assert record["status"] == "experimental" and record["parent"] == "1.0.0"  # never promoted by the pipeline
    assert record["builder"] == {"kind": "human", "who": "alice"} and proposal in record["notes"]
    assert show(wordcount, "wordcount")["version"] == "1.0.0"  # still the current one
    items = genesis(wordcount, "wordcount@1.0.1")
    assert {i["status"] for i in items.values()} == {"passed", "unchecked"}
    assert items["G6.4"]["status"] == "passed" and "GENESIS_COMPLIANCE.md" in items["G6.4"]["evidence"]
    assert items["G7.3"]["status"] == "passed" and proposal in items["G7.3"]["evidence"]
    # the compliance file inside the built archive maps every MUST item to evidence
    out_dir = pxos_home / "unpacked"
    assert wordcount("cartridge", "unpack", "-o", str(out_dir), str(_archive_of(pxos_home, record["sha256"])))[0] == 0
    text = (out_dir / "GENESIS_COMPLIANCE.md").read_text()
    for ident in items:
        assert f"| {ident} |" in text
    assert "passed" in text and "unchecked (not machine-checked)" in text


def test_test_breaking_proposal_is_registered_failed_with_real_output(wordcount):
    code, result = build(wordcount, propose(wordcount, "break", "count characters instead"))
    assert code == 1 and result["registered"] and result["status"] == "failed"
    assert not result["tests"]["passed"] and result["tests"]["counts"]["failed"] == 1
    assert "assert 24 == 5" in result["tests"]["output"]  # pytest's own words, from the sandboxed run
    assert result["stage"] == "tests" and result["reason"].startswith("tests failed")
    label = f"wordcount@{result['version']}"
    record = show(wordcount, label)
    assert record["status"] == "failed" and "assert 24 == 5" in record["tests"]["output"]
    assert wordcount("cartridge", "promote", label, "--approved-by", "alice", "--reason", "x")[0] != 0


def test_network_call_is_caught_by_the_section_8_guardrail(wordcount):
    code, result = build(wordcount, propose(wordcount, "network", "download stop words"))
    assert code == 1 and result["tests"]["passed"]  # its tests pass: only Genesis catches it
    failed = {i["id"]: i for i in result["guardrails"]["failed_items"]}
    assert set(failed) == {"G8.1", "G8.3"}
    assert "urllib.request" in failed["G8.1"]["violations"][0]
    assert result["stage"] == "guardrails" and result["reason"].startswith("guardrail G8.1 failed")
    label = f"wordcount@{result['version']}"
    assert show(wordcount, label)["status"] == "failed"
    items = genesis(wordcount, label)
    assert items["G8.1"]["status"] == "failed" and items["G8.3"]["status"] == "failed"


def test_human_promotion_then_rollback_land_in_the_ledger(wordcount, pxos_kernel):
    assert build(wordcount, propose(wordcount, "improve", "whitespace"))[0] == 0
    assert wordcount("cartridge", "promote", "wordcount@1.0.1", "--approved-by", "bob", "--reason", "better")[0] == 0
    assert wordcount("cartridge", "rollback", "wordcount", "--approved-by", "bob", "--reason", "regression")[0] == 0
    records = [r for r in pxos_kernel.ledger.records() if r["type"] == "CARTRIDGE"]
    moves = [(r["op"], r["payload"]["version"], r["payload"]["outcome"], r["payload"]["by"]) for r in records
             if r["op"] in ("promote", "rollback")]
    assert moves[-2:] == [("promote", "1.0.1", "done", "human:bob"), ("rollback", "1.0.0", "done", "human:bob")]
    ops = [r["op"] for r in pxos_kernel.ledger.records() if r["type"] in ("PROPOSAL", "EVOLVE")]
    assert ops == ["evolve_propose", "evolve_start", "evolve_build"] and pxos_kernel.ledger.verify().ok
    world = json.loads(wordcount("genesis", "--json")[1])
    statuses = {i["id"]: i["status"] for i in world["items"]}
    assert statuses["G6.2"] == statuses["G6.3"] == statuses["G10.3"] == "passed"
    assert world["compliant"] is False  # unchecked items are never reported as compliance


class ScriptedAgent:
    """An agent that answers one fixed patch: stands in for a model in this test only."""

    def ready(self):
        return Readiness(True)

    def propose(self, task):
        assert "wordcount/core.py" in task.files and task.test_command[:3] == ("python", "-m", "pytest")
        patch = (EXAMPLES / "patches" / "improve.patch").read_text()
        return Proposal(agent="scripted", model="none", text="use str.split()", patch=patch,
                        reasoning="split(' ') miscounts runs of whitespace")


def test_agent_proposals_go_through_the_kernel_and_are_llm_built(wordcount, pxos_kernel):
    plugin = types.SimpleNamespace(pxos_agents=hookimpl(lambda: AgentSpec("scripted", lambda s: ScriptedAgent(),
                                                                           "fixed answers for tests")))
    pxos_kernel.plugins.register(plugin, "scripted-agent")
    from pxos_genesis.evolve.build import build as build_proposal
    from pxos_genesis.evolve.proposals import propose as make_proposal

    record = make_proposal(pxos_kernel, goal="whitespace", cartridge="wordcount", agent="scripted")
    assert record["payload"]["builder"] == {"kind": "llm", "who": "scripted", "model": "none"}
    assert record["payload"]["reasoning"] == "split(' ') miscounts runs of whitespace"
    result = build_proposal(pxos_kernel, record["id"])
    assert result.status == "experimental" and result.builder["kind"] == "llm"
    report = pxos_kernel.hypervisor.validate_genesis("wordcount@1.0.1", {})
    items = {i["id"]: i for i in report["items"]}
    assert items["G10.4"]["status"] == "passed" and "1 LLM-built version" in items["G10.4"]["evidence"]
    assert items["G7.4"]["status"] == "passed" and record["id"] in items["G7.4"]["evidence"]


class CoachedAgent:
    """Answers like a model would through the coach: the new file contents, the diff, its reasoning."""

    def ready(self):
        return Readiness(True)

    def propose(self, task):
        import difflib

        old = task.files["wordcount/core.py"]
        new = old.replace('text.split(" ")', "text.split()").replace("    if not text:\n        return 0\n", "")
        patch = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "a/wordcount/core.py",
                                             "b/wordcount/core.py"))
        return Proposal(agent="coached", model="none", text=new, patch=patch,
                        reasoning="str.split() with no separator splits on any run of whitespace",
                        meta={"files": {"wordcount/core.py": new}})


def test_a_task_the_coach_accepted_becomes_a_proposal(wordcount, pxos_kernel, pxos_cli):
    from pxos_agents.coach import Coach
    from pxos_agents.queue import TaskQueue

    plugin = types.SimpleNamespace(pxos_agents=hookimpl(lambda: AgentSpec("coached", lambda s: CoachedAgent(),
                                                                           "fixed answers for tests")))
    pxos_kernel.plugins.register(plugin, "coached-agent")
    tree = EXAMPLES / "wordcount"
    files = {p: (tree / p).read_text() for p in ("wordcount/__init__.py", "wordcount/core.py", "tests/test_core.py")}
    queue = TaskQueue.of(pxos_kernel)
    task = queue.add("count words separated by any whitespace", files=files,
                     test_command=["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
    queue.close()
    coach = Coach(pxos_kernel, generator="coached")
    try:
        (outcome,) = coach.run()
    finally:
        coach.close()
    assert outcome.decision == "accepted", outcome.reason
    from pxos_genesis.evolve.build import build as build_proposal
    from pxos_genesis.evolve.proposals import propose as make_proposal

    record = make_proposal(pxos_kernel, cartridge="wordcount", from_task=task.id)
    p = record["payload"]
    assert p["goal"] == "count words separated by any whitespace" and p["parent"] == "1.0.0"
    assert p["builder"] == {"kind": "llm", "who": "coached", "model": "none"}
    assert p["reasoning"] == "str.split() with no separator splits on any run of whitespace"
    assert p["source"]["kind"] == "task" and p["source"]["task"] == task.id and p["files"] == ["wordcount/core.py"]
    result = build_proposal(pxos_kernel, record["id"])
    assert result.status == "experimental", result.reason
    code, out, err = pxos_cli("evolve", "propose", "--cartridge", "wordcount", "--from-task", "99")
    assert code == 1 and err.startswith("pxos-kernel: error: ") and err.count("\n") == 1


def _archive_of(home: Path, sha256: str) -> Path:
    (path,) = home.rglob(f"{sha256}.pxa")
    return path


def test_evolve_build_shows_its_stages_on_a_terminal(wordcount):
    import os
    import re
    import sys

    from pxos_kernel.testing import run_on_terminal

    proposal = propose(wordcount, "improve", "count words separated by any whitespace")
    env = {k: v for k, v in os.environ.items() if k not in ("PXOS_QUIET", "TERM")}
    done = run_on_terminal([sys.executable, "-m", "pxos_kernel", "evolve", "build", proposal, "--json"], env=env)
    assert done.exit_code == 0, done.terminal
    assert json.loads(done.stdout)["status"] == "experimental"  # the bar never reaches stdout
    for stage in ("patch", "tests", "guardrails", "register"):
        assert f", {stage}]" in done.terminal
    last = done.terminal.rsplit(f"evolve build {proposal}:", 1)[-1]
    assert re.match(r" 100%\|[^|]*\| (\d+)/\1 \[[^,]+, done\]", last), last  # every stage counted, none twice
