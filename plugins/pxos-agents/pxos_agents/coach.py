"""The coaching loop: a generator proposes, a reviewer judges, repeat up to a limit.

For each task claimed from the queue:

1. memory is asked first: an accepted proposal for the very same task (same
   goal and files) is re-tested and reused instead of asking a model again;
2. the generator agent proposes (the feedback of earlier rounds is added to
   the task's context);
3. the proposal is applied to a sandbox copy of the task's files and the
   task's test command runs there;
4. the reviewer scores it: the test result itself (``reviewer="tests"``) or
   another agent, asked for a ``SCORE: x`` line, whose answer counts only
   together with passing tests;
5. accepted work (tests pass and score >= threshold) is kept as the sandbox
   copy under ``PXOS_HOME/agents/accepted/task-N`` and remembered with its
   ATOM id; a rejected round feeds its reason into the next one.

Every step is a ledger record (corridor ``DISTRICT_7.CHAMBER_COACH.NODE_<STEP>``)
attributed to the agent that acted. An agent that fails raises AgentError:
the attempt fails, no score is ever made up.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pxos_kernel import AgentError, Progress, Proposal, PxosError, Review, Task, UsageError, progress

from pxos_agents.memory import MemoryStore, task_key
from pxos_agents.prompts import digest
from pxos_agents.queue import QueuedTask, TaskQueue
from pxos_agents.workspace import TestOutcome, make_copy, run_tests

TESTS = "tests"
_SCORE = re.compile(r"SCORE:\s*([01](?:\.\d+)?|0?\.\d+)", re.I)


@dataclass
class TaskOutcome:
    """How coaching one task ended."""

    task_id: int
    decision: str  # accepted | rejected | error
    rounds: int
    score: Optional[float] = None
    reason: str = ""
    accepted_dir: Optional[str] = None
    memory_id: Optional[str] = None
    reused: Optional[str] = None
    records: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Coach:
    """Runs the loop with a ``generator`` agent and a reviewer (``"tests"`` or an agent name)."""

    def __init__(self, kernel: Any, *, generator: str, reviewer: str = TESTS, max_rounds: int = 3,
                 threshold: float = 0.5, test_timeout: float = 60.0, worker: str = "coach",
                 allow_unisolated: bool = False) -> None:
        if max_rounds < 1:
            raise UsageError(f"--rounds must be at least 1, not {max_rounds}")
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"--threshold must be within [0, 1], not {threshold}")
        self.kernel = kernel
        self.generator_name = generator
        self.reviewer_name = reviewer
        self.generator = kernel.agent(generator)
        self.reviewer: Any = None if reviewer == TESTS else kernel.agent(reviewer)
        self.max_rounds = max_rounds
        self.threshold = threshold
        self.test_timeout = test_timeout
        self.allow_unisolated = allow_unisolated
        self.worker = worker
        self.queue = TaskQueue.of(kernel)
        self.memory = MemoryStore(kernel)
        self._progress: Optional[Progress] = None

    def close(self) -> None:
        self.queue.close()
        self.memory.close()

    # -- ledger -------------------------------------------------------------------------

    def _step(self, outcome: TaskOutcome, node: str, op: str, payload: dict, agent: Optional[str] = None) -> None:
        record = self.kernel.checkpoint("COACH", op, {"task": outcome.task_id, **payload},
                                        corridor=f"DISTRICT_7.CHAMBER_COACH.NODE_{node}",
                                        agent=agent or self.generator_name)
        outcome.records.append(record["id"])

    # -- the loop -------------------------------------------------------------------------

    def run(self, *, phase: Optional[str] = None, max_tasks: int = 1) -> list[TaskOutcome]:
        """Coach up to ``max_tasks`` claimed tasks; returns how each ended."""
        if max_tasks < 1:
            raise UsageError(f"--max-tasks must be at least 1, not {max_tasks}")
        outcomes: list[Any] = []
        with progress(description="agent coach", total=max_tasks, unit="task") as self._progress:
            while len(outcomes) < max_tasks:
                queued = self.queue.claim(self.worker, phase)
                if queued is None:
                    break
                outcomes.append(self.coach_task(queued))
                self._progress.update()
        self._progress = None
        return outcomes

    def _note(self, text: str) -> None:
        """Say what the coach is doing now beside the progress bar of :meth:`run`, if one is shown."""
        if self._progress is not None:
            self._progress.note(text)

    def coach_task(self, queued: QueuedTask) -> TaskOutcome:
        outcome = TaskOutcome(queued.id, "rejected", 0)
        task = queued.as_task()
        key = task_key(task.goal, dict(task.files))
        self._step(outcome, "CLAIM", "claim", {"goal_digest": digest(task.goal), "attempt": queued.attempts,
                                               "phase": queued.phase, "task_key": key})
        if self._reuse(queued, task, key, outcome):
            return outcome
        feedback = ""
        for round_no in range(1, self.max_rounds + 1):
            outcome.rounds = round_no
            self._note(f"task {queued.id}, round {round_no}/{self.max_rounds}: {self.generator_name} proposes")
            context = task.context + (f"\n\nFeedback on the previous attempt:\n{feedback}" if feedback else "")
            attempt = Task(task.goal, context, task.files, task.test_command, task.id)
            try:
                proposal = self.generator.propose(attempt)
            except AgentError as exc:
                return self._error(queued, outcome, self.generator_name, exc)
            self._step(outcome, "PROPOSE", "propose", {
                "round": round_no, "model": proposal.model, "prompt_digest": proposal.meta.get("prompt_digest"),
                "proposal_digest": digest(proposal.text + (proposal.patch or "")),
                "memory": list(proposal.meta.get("memory", []))})
            if round_no == 1:
                self.queue.to_review(queued.id)
            accepted, score, reason, copy = self._judge(queued, task, proposal, round_no, outcome)
            if outcome.decision == "error":
                return outcome
            self._step(outcome, "DECIDE", "decide", {"round": round_no, "score": score,
                                                     "decision": "accepted" if accepted else "rejected",
                                                     "reason": reason[-500:]})
            if accepted:
                assert copy is not None  # an accepted proposal keeps its tested copy
                return self._accept(queued, task, key, proposal, score, copy, outcome)
            feedback = reason
        return self._reject(queued, task, key, outcome, feedback)

    def _judge(self, queued: QueuedTask, task: Task, proposal: Proposal, round_no: int,
               outcome: TaskOutcome) -> tuple[bool, float, str, Optional[Path]]:
        files = dict(proposal.meta.get("files") or {})
        try:
            copy = make_copy(task.files, files)
        except PxosError as exc:
            self._step(outcome, "TEST", "test", {"round": round_no, "passed": False, "error": str(exc)})
            return False, 0.0, str(exc), None
        self._note(f"task {queued.id}, round {round_no}/{self.max_rounds}: tests in the sandbox")
        tests = run_tests(self.kernel, copy, task.test_command, self.test_timeout,
                              allow_unisolated=self.allow_unisolated)
        self._step(outcome, "TEST", "test", {"round": round_no, "passed": tests.passed, "exit_code": tests.exit_code,
                                             "duration": tests.duration, "network_isolated": tests.network_isolated,
                                             "output_digest": digest(tests.output)})
        if self.reviewer is None:
            review = Review(1.0 if tests.passed else 0.0, _test_feedback(tests), TESTS)
        else:
            self._note(f"task {queued.id}, round {round_no}/{self.max_rounds}: {self.reviewer_name} reviews")
            try:
                review = self._agent_review(task, proposal, tests)
            except AgentError as exc:
                shutil.rmtree(copy, ignore_errors=True)
                self._error(queued, outcome, self.reviewer_name, exc)
                return False, 0.0, str(exc), None
            self._step(outcome, "REVIEW", "review", {"round": round_no, "score": review.score,
                                                     "feedback_digest": digest(review.feedback)},
                       agent=self.reviewer_name)
        accepted = tests.passed and review.score >= self.threshold
        if not accepted:
            shutil.rmtree(copy, ignore_errors=True)
        return accepted, review.score, review.feedback, copy if accepted else None

    def _agent_review(self, task: Task, proposal: Proposal, tests: TestOutcome) -> Review:
        """Ask the reviewer agent for a score; an answer without one is an error, not a zero."""
        ask = Task(
            goal=f"Review a proposed change for this goal: {task.goal}\nReply with a line 'SCORE: x' "
                 "(x between 0 and 1) and your feedback.",
            context=f"Proposal by {proposal.agent} ({proposal.model}):\n{proposal.patch or proposal.text}\n\n"
                    f"Test result: {_test_feedback(tests)}")
        answer = self.reviewer.propose(ask)
        match = _SCORE.search(answer.text)
        if not match:
            raise AgentError(f"reviewer {self.reviewer_name} gave no 'SCORE: x' line in its answer")
        return Review(float(match.group(1)), answer.text.strip(), self.reviewer_name)

    # -- endings --------------------------------------------------------------------------

    def _reuse(self, queued: QueuedTask, task: Task, key: str, outcome: TaskOutcome) -> bool:
        for prior in self.memory.for_task(key, "proposal"):
            files = prior.meta.get("files") or {}
            copy = make_copy(task.files, files)
            tests = run_tests(self.kernel, copy, task.test_command, self.test_timeout,
                              allow_unisolated=self.allow_unisolated)
            self._step(outcome, "TEST", "retest_prior", {"memory": prior.atom_id, "passed": tests.passed,
                                                         "exit_code": tests.exit_code})
            if tests.passed:
                self.queue.to_review(queued.id)
                proposal = Proposal(prior.agent, prior.meta.get("model", "?"), prior.body,
                                    f"reused {prior.atom_id}", None, {"files": files})
                outcome.reused = prior.atom_id
                self._step(outcome, "DECIDE", "decide", {"round": 0, "score": 1.0, "decision": "accepted",
                                                         "reason": f"reused {prior.atom_id}; tests pass"})
                self._accept(queued, task, key, proposal, 1.0, copy, outcome)
                return True
            shutil.rmtree(copy, ignore_errors=True)
        return False

    def _accept(self, queued: QueuedTask, task: Task, key: str, proposal: Proposal, score: float, copy: Path,
                outcome: TaskOutcome) -> TaskOutcome:
        target = Path(self.kernel.state_dir("agents", "accepted")) / f"task-{queued.id}-attempt-{queued.attempts}"
        shutil.move(str(copy), target)
        if outcome.reused:
            outcome.memory_id = outcome.reused
        else:
            # The reasoning and the diff are kept as the model gave them: `evolve propose --from-task` needs both.
            entry = self.memory.remember(
                "proposal", f"accepted: {task.goal}", proposal.text, agent=proposal.agent, task_key=key,
                meta={"files": dict(proposal.meta.get("files") or {}), "model": proposal.model, "score": score,
                      "task_id": queued.id, "reasoning": proposal.reasoning, "patch": proposal.patch})
            outcome.memory_id = entry.atom_id
        outcome.decision, outcome.score, outcome.accepted_dir = "accepted", score, str(target)
        self.queue.complete(queued.id, {"memory": outcome.memory_id, "accepted_dir": str(target), "score": score,
                                        "rounds": outcome.rounds})
        return outcome

    def _reject(self, queued: QueuedTask, task: Task, key: str, outcome: TaskOutcome, reason: str) -> TaskOutcome:
        entry = self.memory.remember("result", f"rejected after {outcome.rounds} round(s): {task.goal}", reason,
                                     agent=self.generator_name, task_key=key, meta={"task_id": queued.id})
        outcome.decision, outcome.score, outcome.reason, outcome.memory_id = "rejected", 0.0, reason, entry.atom_id
        self.queue.fail(queued.id, f"rejected after {outcome.rounds} round(s): {reason[-300:]}")
        return outcome

    def _error(self, queued: QueuedTask, outcome: TaskOutcome, agent: str, exc: PxosError) -> TaskOutcome:
        self._step(outcome, "DECIDE", "agent_error", {"error": str(exc)}, agent=agent)
        outcome.decision, outcome.reason = "error", str(exc)
        self.queue.fail(queued.id, str(exc))
        return outcome


def accepted_proposal(kernel: Any, task_id: int) -> Proposal:
    """The proposal the coach accepted for task ``task_id``, as the agent made it.

    ``meta`` holds ``task`` (the id), ``memory`` (the ATOM id it is remembered
    under), ``score``, ``files`` (the accepted files) and ``task_files`` (the
    files the task started from, which the patch is a diff against). Raises
    NotFoundError for an unknown task, PxosError for one not accepted.
    """
    from pxos_agents.prompts import make_patch

    queue, memory = TaskQueue.of(kernel), MemoryStore(kernel)
    try:
        queued = queue.get(task_id)
        atom = (queued.result or {}).get("memory")
        if queued.state != "completed" or not atom:
            raise PxosError(f"task {task_id} is {queued.state}, not accepted by the coach "
                            "(run: pxos-kernel agent coach)")
        entry = memory.show(atom)
    finally:
        queue.close()
        memory.close()
    files = dict(entry.meta.get("files") or {})
    patch = entry.meta.get("patch") or make_patch(queued.files, files)
    return Proposal(agent=entry.agent, model=str(entry.meta.get("model") or "?"), text=entry.body,
                    reasoning=str(entry.meta.get("reasoning") or ""), patch=patch,
                    meta={"task": task_id, "memory": atom, "score": entry.meta.get("score"), "files": files,
                          "task_files": dict(queued.files), "goal": queued.goal})


def _test_feedback(tests: TestOutcome) -> str:
    verdict = "timed out" if tests.timed_out else ("passed" if tests.passed else f"failed (exit {tests.exit_code})")
    return f"tests {verdict}; output:\n{tests.output[-1500:]}"
