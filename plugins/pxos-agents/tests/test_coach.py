"""The whole coaching loop, offline, through the CLI: one task accepted, one rejected by its tests."""

import json

import pytest

from pxos_agents import accepted_proposal
from pxos_agents.memory import MemoryStore
from pxos_agents.queue import TaskQueue
from pxos_kernel import NotFoundError, PxosError

from conftest import CALC, with_test_engine, write_config


def _setup(pxos_home, monkeypatch, task_dir, pxos_cli):
    with_test_engine(monkeypatch)
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "test-engine"}}})
    monkeypatch.chdir(task_dir)
    code, out, err = pxos_cli("agent", "task", "add", "implement add(a, b) in calc.py", "--file", "calc.py",
                              "--file", "test_calc.py", "--test", "python test_calc.py", "--priority", "2", "--json")
    assert code == 0, err
    code, out, err = pxos_cli("agent", "task", "add", "implement mul(a, b) in mul.py", "--file", "mul.py",
                              "--file", "test_mul.py", "--test", "python test_mul.py", "--max-attempts", "1")
    assert code == 0, err


def test_coach_accepts_passing_work_and_rejects_failing_work(pxos_home, monkeypatch, task_dir, pxos_cli):
    _setup(pxos_home, monkeypatch, task_dir, pxos_cli)
    code, out, err = pxos_cli("agent", "coach", "--max-tasks", "5", "--rounds", "2", "--json")
    assert code == 1, err  # not everything was accepted
    outcomes = {o["task_id"]: o for o in json.loads(out)}
    accepted, rejected = outcomes[1], outcomes[2]

    assert accepted["decision"] == "accepted" and accepted["rounds"] == 1 and accepted["score"] == 1.0
    from pathlib import Path

    work = Path(accepted["accepted_dir"])
    assert (work / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (task_dir / "calc.py").read_text().endswith("raise NotImplementedError\n")  # the original is untouched

    assert rejected["decision"] == "rejected" and rejected["rounds"] == 2
    assert "ImportError" in rejected["reason"] or "cannot import name" in rejected["reason"]

    queue = TaskQueue(pxos_home / "agents" / "queue.sqlite")
    assert queue.get(1).state == "completed" and queue.get(1).result["memory"] == accepted["memory_id"]
    failed = queue.get(2)
    assert failed.state == "failed" and failed.needs_human

    from pxos_kernel import Kernel

    with Kernel(pxos_home) as kernel:
        records = [r for r in kernel.ledger.records() if r["type"] == "COACH"]
        assert kernel.ledger.verify().ok
        memory = MemoryStore(kernel)
        assert memory.show(accepted["memory_id"]).meta["files"]["calc.py"].endswith("return a + b\n")
        assert memory.search("implement add", kind="proposal")[0].atom_id == accepted["memory_id"]
        assert memory.show(rejected["memory_id"]).kind == "result"
        proposal = accepted_proposal(kernel, 1)  # what `evolve propose --from-task 1` turns into a proposal
        assert proposal.agent == "pixellm-local" and proposal.meta["memory"] == accepted["memory_id"]
        assert "+    return a + b" in proposal.patch and proposal.meta["task_files"]["calc.py"] == CALC
        assert proposal.reasoning == memory.show(accepted["memory_id"]).meta["reasoning"]
        with pytest.raises(PxosError, match="task 2 is failed, not accepted"):
            accepted_proposal(kernel, 2)
        with pytest.raises(NotFoundError):
            accepted_proposal(kernel, 99)
    steps = [(r["payload"]["task"], r["op"]) for r in records]
    assert steps[:4] == [(1, "claim"), (1, "propose"), (1, "test"), (1, "decide")]
    assert steps.count((2, "propose")) == 2 and steps.count((2, "test")) == 2
    assert {r["agent"] for r in records} == {"pixellm-local"}
    decisions = [r["payload"]["decision"] for r in records if r["op"] == "decide"]
    assert decisions == ["accepted", "rejected", "rejected"]
    propose = next(r for r in records if r["op"] == "propose")
    assert propose["payload"]["prompt_digest"].startswith("sha256:")
    assert propose["payload"]["proposal_digest"].startswith("sha256:")

    # the same task again: memory is asked first and the accepted work is reused, not regenerated
    pxos_cli("agent", "task", "add", "implement add(a, b) in calc.py", "--file", "calc.py",
             "--file", "test_calc.py", "--test", "python test_calc.py")
    code, out, err = pxos_cli("agent", "coach", "--json")
    again = json.loads(out)[0]
    assert code == 0 and again["decision"] == "accepted" and again["reused"] == accepted["memory_id"]
    code, out, err = pxos_cli("agent", "memory", "show", accepted["memory_id"])
    assert code == 0 and "return a + b" in out


def test_requeued_failure_is_coached_again(pxos_home, monkeypatch, task_dir, pxos_cli):
    _setup(pxos_home, monkeypatch, task_dir, pxos_cli)
    pxos_cli("agent", "coach", "--max-tasks", "2", "--rounds", "1")
    code, out, err = pxos_cli("agent", "task", "requeue", "2")
    assert code == 0 and "[pending]" in out
    code, out, err = pxos_cli("agent", "coach", "--rounds", "1", "--json")
    assert json.loads(out)[0]["task_id"] == 2


def test_propose_runs_one_round_and_prints_the_proposal(pxos_home, monkeypatch, task_dir, pxos_cli):
    with_test_engine(monkeypatch)
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "test-engine"}}})
    monkeypatch.chdir(task_dir)
    code, out, err = pxos_cli("agent", "propose", "implement add", "--file", "calc.py", "--file", "test_calc.py",
                              "--test", "python test_calc.py")
    assert code == 0, err
    assert "+    return a + b" in out and "PASSED" in out


def test_coach_with_an_agent_that_cannot_work_fails_the_attempt(pxos_home, monkeypatch, task_dir, pxos_cli):
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "no-such-engine"}}})
    monkeypatch.chdir(task_dir)
    pxos_cli("agent", "task", "add", "implement add", "--file", "calc.py", "--test", "python test_calc.py",
             "--max-attempts", "1")
    code, out, err = pxos_cli("agent", "coach", "--json")
    outcome = json.loads(out)[0]
    assert code == 1 and outcome["decision"] == "error" and "not installed" in outcome["reason"]


def test_an_agent_reviewer_scores_and_a_reviewer_without_a_score_is_an_error(pxos_home, monkeypatch, task_dir,
                                                                              pxos_cli):
    from conftest import CORPUS

    # the engine has also "read" a review: after '# Answer' it writes a score line
    with_test_engine(monkeypatch, CORPUS + "\n# Answer\nSCORE: 0.9 the change is small and the tests pass\n")
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "test-engine"}}})
    monkeypatch.chdir(task_dir)
    pxos_cli("agent", "task", "add", "implement add", "--file", "calc.py", "--file", "test_calc.py",
             "--test", "python test_calc.py")
    code, out, err = pxos_cli("agent", "coach", "--reviewer", "pixellm-local", "--json")
    outcome = json.loads(out)[0]
    assert code == 0 and outcome["decision"] == "accepted" and outcome["score"] == 0.9

    # without the review passage the same reviewer answers with no score: an error, never a guessed score
    with_test_engine(monkeypatch)
    pxos_cli("agent", "task", "add", "implement add for real", "--file", "calc.py", "--file", "test_calc.py",
             "--test", "python test_calc.py", "--max-attempts", "1")
    code, out, err = pxos_cli("agent", "coach", "--reviewer", "pixellm-local", "--json")
    outcome = json.loads(out)[0]
    assert code == 1 and outcome["decision"] == "error" and "gave no 'SCORE: x' line" in outcome["reason"]
    assert outcome["score"] is None
