"""Genesis §6 (sandbox testing before promotion) and §10.3 (promotion needs compliance and approval).

A test result counts only if the ledger shows it: the run it names must have a
post checkpoint that says it ran sandboxed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pxos_genesis.checks import bad, check, judge, plural, unknown
from pxos_genesis.checks.history import done, history, names_in_scope
from pxos_genesis.principles import must_items
from pxos_genesis.subject import Candidate, registry

COMPLIANCE_FILE = "GENESIS_COMPLIANCE.md"
ON_THE_FLY = ("judges the installed system, packed on the fly for this report: it has no registry record and no "
              "test run; pack, register and test it (pxos-kernel world pack/register/test), then judge that version")


def sandboxed_run(tests: Mapping[str, Any], context: Mapping[str, Any]) -> Optional[str]:
    """Why the ledger does not vouch for ``tests`` as a sandboxed run ("" when it does, None if unknown)."""
    run_id = tests.get("run_id")
    if not run_id:
        return None
    try:
        record = context["kernel"].ledger.find(run_id)
    except Exception as exc:
        return f"its run {run_id} is not in the ledger ({exc})"
    if not (record.get("payload") or {}).get("sandbox"):
        return f"the ledger says run {run_id} was not sandboxed"
    return ""


@check("tests_passed_in_sandbox")
def tests_passed_in_sandbox(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    tests = candidate.tests
    if not tests and candidate.on_the_fly:
        return unknown(ON_THE_FLY)
    if not tests:
        return bad(f"{candidate.label} has no test results", [("its tests have never run", candidate.label)])
    problems = []
    proof = sandboxed_run(tests, context)
    if proof is None:
        problems.append(("the test result names no ledger run, so nothing shows it ran in the sandbox",
                         candidate.label))
    elif proof:
        problems.append((proof, candidate.label))
    suites = tests.get("suites")
    if suites is not None:  # a system cartridge: one suite per distribution it carries tests of
        for suite in suites:
            proof = sandboxed_run(suite, context) if suite.get("run_id") != tests.get("run_id") else ""
            if proof:
                problems.append((f"the tests of {suite['distribution']}: {proof}", candidate.label))
            if not suite.get("passed"):
                problems.append((f"the tests of {suite['distribution']} failed ({_counts(suite)})", candidate.label))
        if tests.get("scope") == "partial":
            problems.append((f"only the tests of {', '.join(tests.get('distributions') or [])} ran; every "
                             "distribution's tests must", candidate.label))
        if not suites and tests.get("scope") != "partial":
            problems.append(("the system cartridge carries no tests (packed with --no-tests?), so nothing was "
                             "tested", candidate.label))
        ran = "; ".join(f"{s['distribution']}: {_counts(s)}" for s in suites) or "no suites"
        return judge(problems, f"tests of {candidate.label} ran with 'world test' in the sandbox (ledger run "
                     f"{tests.get('run_id')}), one suite per distribution: {ran}")
    if tests.get("status") != "ok" or tests.get("exit_code") != 0:
        problems.append((f"its tests ended {tests.get('status')} with exit code {tests.get('exit_code')} "
                         f"({_counts(tests)})", candidate.label))
    command = " ".join(tests.get("command") or []) or "?"
    return judge(problems, f"tests of {candidate.label} ran as {command!r} in the sandbox (ledger run "
                 f"{tests.get('run_id')}): {tests.get('status')}, exit code {tests.get('exit_code')}, "
                 f"counts {tests.get('counts') or {}}")


def _counts(tests: Mapping[str, Any]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted((tests.get("counts") or {}).items())) or "no test counts"


def _promotions(candidate: Optional[Candidate], context: Mapping[str, Any]):
    """(label, history entry, record) of every promotion and rollback that happened."""
    reg = registry(context["kernel"])
    for name in names_in_scope(candidate, context):
        for entry in done(history(name, context), "promote", "rollback"):
            label = f"{name}@{entry.get('version')}"
            yield label, entry, reg.get(label)


@check("promotions_tested", cartridge=False)
def promotions_tested(candidate: Optional[Candidate], context: Mapping[str, Any]) -> Any:
    problems, count = [], 0
    for label, entry, record in _promotions(candidate, context):
        count += 1
        tests = record.get("tests") or {}
        if not tests.get("passed"):
            problems.append((f"was made current by {entry.get('action')} without passing tests", label))
    return judge(problems, f"{count} promotion(s) and rollback(s) in the registry history; each made current a "
                 "version whose tests had passed")


@check("promotions_approved", cartridge=False)
def promotions_approved(candidate: Optional[Candidate], context: Mapping[str, Any]) -> Any:
    problems, breaking = [], 0
    for label, entry, record in _promotions(candidate, context):
        if not record.get("breaking"):
            continue
        breaking += 1
        promoted = record.get("promoted") or {}
        if promoted.get("kind") != "human" or not entry.get("by"):
            problems.append((f"a breaking change made current without a human approver ({promoted!r})", label))
    return judge(problems, f"{plural(breaking, 'breaking version')} made current; each approved by a named human")


@check("promotions_compliant", cartridge=False)
def promotions_compliant(candidate: Optional[Candidate], context: Mapping[str, Any]) -> Any:
    problems, count = [], 0
    for label, entry, record in _promotions(candidate, context):
        count += 1
        guardrails = (record.get("tests") or {}).get("guardrails") or {}
        failed = (guardrails.get("counts") or {}).get("failed")
        if failed is None:
            problems.append(("made current with no guardrail results recorded", label))
        elif failed:
            problems.append((f"made current although {failed} guardrail(s) failed", label))
        if not entry.get("by"):
            problems.append(("made current without a recorded approver", label))
    return judge(problems, f"{count} promotion(s) and rollback(s) checked: each had its guardrails run with "
                 "none failed, and a named approver")


@check("compliance_declared")
def compliance_declared(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    ids = [item.id for item in must_items()]
    if COMPLIANCE_FILE in candidate.archive.names():
        text = candidate.archive.read(COMPLIANCE_FILE).decode("utf-8", "replace")
        missing = [i for i in ids if f"| {i} |" not in text]
        return judge([(f"{COMPLIANCE_FILE} does not map {i}", candidate.label) for i in missing],
                     f"{COMPLIANCE_FILE} in {candidate.label} maps {len(ids) - len(missing)} of {len(ids)} MUST "
                     "items to their evidence")
    stored = ((candidate.tests or {}).get("guardrails") or {}).get("items") or []
    if stored:
        judged = {i.get("id") for i in stored}
        missing = [i for i in ids if i not in judged]
        return judge([(f"its recorded test run did not judge {i}", candidate.label) for i in missing],
                     f"the recorded test run of {candidate.label} judged {len(ids) - len(missing)} of {len(ids)} "
                     "MUST items with the Genesis guardrails")
    if candidate.on_the_fly:
        return unknown(ON_THE_FLY)
    if candidate.building or candidate.testing_now:
        return unknown(f"{candidate.label} is being judged by this very report (it becomes its Genesis record); "
                       "judge it again afterwards")
    return bad(f"{candidate.label} has no {COMPLIANCE_FILE} and no recorded Genesis judgement",
               [(f"no {COMPLIANCE_FILE} and no guardrail results from a test run", candidate.label)])
