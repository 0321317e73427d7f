"""Genesis §4: the hypervisor runs programs, describes itself, sandboxes experiments and logs every run.

These checks exercise the real kernel: they run the kernel's own ``hello``
program and then look its two checkpoints up in the ledger.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Mapping

from pxos_genesis.checks import bad, check, judge, ok, unknown
from pxos_genesis.subject import memo

PROBE = "hello"
_EXPECTED_SECTIONS = ("kernel", "plugins", "registries", "ledger", "sandbox")


def probe_run(context: Mapping[str, Any]) -> Any:
    """Run the probe program once per genesis report (its output is kept off the user's terminal)."""
    cache = memo(context, "probe")
    if cache is not None and "result" in cache:
        return cache["result"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        # capture: a system that is not current runs even this probe sandboxed, in a child of its own
        result = context["kernel"].hypervisor.run_program(PROBE, ["genesis"], capture=True)
    result.stdout = out.getvalue() + (result.stdout or "")
    if cache is not None:
        cache["result"] = result
    return result


@check("hypervisor_runs", cartridge=False)
def hypervisor_runs(candidate: Any, context: Mapping[str, Any]) -> Any:
    result = probe_run(context)
    if not result.ok:
        return bad(f"run_program({PROBE!r}) ended {result.status}", [f"run_program ended {result.status}: "
                                                                     f"{result.error}"])
    return ok(f"run_program({PROBE!r}, ['genesis']) answered status ok, exit code {result.exit_code}, "
              f"output {result.stdout.strip()[:60]!r}")


@check("hypervisor_inspects", cartridge=False)
def hypervisor_inspects(candidate: Any, context: Mapping[str, Any]) -> Any:
    report = context["kernel"].hypervisor.inspect_self()
    missing = [s for s in _EXPECTED_SECTIONS if s not in report]
    enforced = sorted(k for k, v in report.get("sandbox", {}).items() if v.get("enforced"))
    return judge([f"inspect_self() has no {s!r} section" for s in missing],
                 f"inspect_self() answered with {', '.join(sorted(report))}; sandbox protections enforced here: "
                 f"{', '.join(enforced) or 'none'}")


@check("hypervisor_logs", cartridge=False)
def hypervisor_logs(candidate: Any, context: Mapping[str, Any]) -> Any:
    ledger = context["kernel"].ledger
    result = probe_run(context)
    problems = []
    for which, atom in (("pre", result.pre_id), ("post", result.post_id)):
        try:
            record = ledger.find(atom)
        except Exception as exc:
            problems.append(f"the {which} checkpoint of the probe run is not in the ledger: {exc}")
            continue
        if record["payload"].get("program") != PROBE:
            problems.append(f"{atom} does not describe the probe run")
    if not problems and ledger.find(result.post_id)["payload"].get("status") != result.status:
        problems.append("the post checkpoint's status differs from the run's")
    return judge(problems, f"the probe run's pre checkpoint {result.pre_id} and post checkpoint {result.post_id} "
                 f"(what ran, when, status {result.status!r}) were found in the ledger at {ledger.location}")


@check("experimental_sandboxed")
def experimental_sandboxed(candidate: Any, context: Mapping[str, Any]) -> Any:
    from pxos_genesis.checks.selfhosting import is_system, non_current_runs_sandboxed

    if is_system(candidate):
        return non_current_runs_sandboxed(candidate, context)
    status = candidate.field("status") or ("experimental" if candidate.building else None)
    programs = sorted((candidate.archive.manifest or {}).get("programs") or {})
    if not programs:
        return unknown(f"{candidate.label} declares no programs, so there is nothing the hypervisor would run")
    if candidate.building or candidate.record is None:
        return unknown(f"{candidate.label} is not registered yet; the hypervisor resolves programs of registered "
                       "cartridges only (judge it again after registration)")
    hypervisor = context["kernel"].hypervisor
    program = hypervisor.resolve(programs[0], cartridge=candidate.label)
    if status == "current":
        return ok(f"{candidate.label} is current (promoted), so it may run unsandboxed; program {programs[0]!r} "
                  f"resolves to {program.entry_path}")
    if not program.sandbox:
        return bad(f"{candidate.label} is {status}", [(f"program {programs[0]!r} of a {status} cartridge would run "
                                                       "outside the sandbox", candidate.label)])
    return ok(f"{candidate.label} is {status}: the hypervisor resolves its program {programs[0]!r} as sandbox-only")
