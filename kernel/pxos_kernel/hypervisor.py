"""The hypervisor: run programs, describe the kernel, check it against Genesis.

Every run, whatever happens to it, is framed by two ledger records: a pre
checkpoint (``NODE_PRE``) before the program starts and a post checkpoint
(``NODE_POST``) with its outcome.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

from pxos_kernel.errors import NotFoundError
from pxos_kernel.programcall import call_program, load_entry
from pxos_kernel.registrations import Program

PRE = "DISTRICT_4.CHAMBER_EXEC.NODE_PRE"
POST = "DISTRICT_4.CHAMBER_EXEC.NODE_POST"
#: How a run ended. ``failed``: non-zero exit code; ``error``: it raised.
STATUSES = ("ok", "failed", "error", "timeout", "memory", "cpu", "killed")


@dataclass
class RunResult:
    """The outcome of one run."""

    program: str
    status: str
    exit_code: int
    value: Any = None
    error: Optional[str] = None
    duration: float = 0.0
    sandboxed: bool = False
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    pre_id: str = ""
    post_id: str = ""
    protections: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return asdict(self)


class Hypervisor:
    """Runs programs for one :class:`~pxos_kernel.core.Kernel` and logs every run."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def resolve(self, spec: str, cartridge: Optional[str] = None, *, import_now: bool = True) -> Program:
        """A registered name, ``module:function``, or whatever a resolver plugin answers.

        ``import_now=False`` leaves a ``module:function`` unimported: a sandboxed run
        must not execute the module's top-level code in this (unsandboxed) process.
        """
        if cartridge is None:
            programs = self.kernel.registry("program")
            if spec in programs:
                return programs.get(spec)
            if ":" in spec:
                if import_now:
                    load_entry(spec)
                return Program("module-function", spec, f"{spec} called directly", origin=spec)
        program = self.kernel.hook.pxos_resolve_program(spec=spec, cartridge=cartridge, kernel=self.kernel)
        if program is not None:
            return program
        if cartridge is not None:
            raise NotFoundError(f"cannot run {spec!r} from cartridge {cartridge!r}: no installed plugin resolves "
                                "cartridges (install pxos-cartridge)")
        known = ", ".join(self.kernel.registry("program").names()) or "none"
        raise NotFoundError(f"unknown program {spec!r}: not a registered program ({known}) "
                            "and not of the form package.module:function")

    def run_program(self, spec: str, args: Sequence[str] = (), *, cartridge: Optional[str] = None,
                    sandbox: bool = False, timeout: Optional[float] = None, capture: bool = False,
                    limits: Optional[dict] = None) -> RunResult:
        """Run a program and return how it went; raises only if it cannot be found.

        ``sandbox=True`` (or a program that requires it) runs it in a child
        process under :mod:`pxos_kernel.sandbox` limits.
        """
        args = [str(a) for a in args]
        started = time.perf_counter()
        base = {"program": spec, "args": args, "cartridge": cartridge}
        try:
            program = self.resolve(spec, cartridge, import_now=not sandbox)
        except Exception as exc:
            pre = self.kernel.checkpoint("RUN", "run_program", {**base, "sandbox": sandbox}, corridor=PRE)
            self.kernel.checkpoint("RUN", "run_program", {
                **base, "pre": pre["id"], "status": "unresolved", "exit_code": 2, "error": str(exc),
                "duration": time.perf_counter() - started}, corridor=POST)
            raise
        sandboxed = sandbox or program.sandbox
        pre = self.kernel.checkpoint("RUN", "run_program", {
            **base, "entry": program.entry_path, "sandbox": sandboxed}, corridor=PRE)
        self.kernel.hook.pxos_program_started(kernel=self.kernel, program=program, args=args, record=pre)
        full_args = [*program.leading_args, *args]
        if sandboxed:
            from pxos_kernel.sandbox import Limits, run_sandboxed

            settings = {**self.kernel.section("sandbox"), **(limits or {})}
            if timeout is not None:
                settings["timeout"] = timeout
            outcome = run_sandboxed(program.entry_path, full_args, Limits.from_settings(settings), capture=capture)
            result = RunResult(program.name if program.name != "module-function" else spec, outcome.status,
                               outcome.exit_code, outcome.value, outcome.error, sandboxed=True,
                               stdout=outcome.stdout, stderr=outcome.stderr, protections=outcome.protections)
        else:
            try:
                function = load_entry(program.entry_path) if isinstance(program.entry, str) else program.entry
                status, code, value, error = call_program(function, full_args)
            except Exception as exc:  # the import itself failed: still a logged run
                status, code, value, error = "error", 1, None, str(exc)
            result = RunResult(spec if program.name == "module-function" else program.name,
                               status, code, value, error)
        result.duration = time.perf_counter() - started
        result.pre_id = pre["id"]
        post = self.kernel.checkpoint("RUN", "run_program", {
            **base, "pre": pre["id"], "status": result.status, "exit_code": result.exit_code,
            "error": result.error, "duration": round(result.duration, 6), "sandbox": sandboxed,
            "value": _summary(result.value)}, corridor=POST)
        result.post_id = post["id"]
        self.kernel.hook.pxos_program_finished(kernel=self.kernel, program=program, result=result, record=post)
        return result

    def inspect_self(self) -> dict:
        """What this kernel is, what it has loaded, and which protections really hold here."""
        from pxos_kernel import __version__
        from pxos_kernel.sandbox import protections

        registries, problems = {}, self.kernel.plugins.collect_all()
        for family in ("storage", "inference", "sink", "agent", "guardrail", "boot", "program", "subcommand"):
            try:
                registries[family] = self.kernel.registry(family).names()
            except Exception as exc:
                registries[family] = []
                problems.append(str(exc))
        world = self.kernel.world
        family_of = {"storage": "storage", "inference": "inference", "checkpoint_sink": "sink", "agent": "agent",
                     "boot": "boot", "guardrails": "guardrail"}
        missing_defaults = {k: v for k, v in world.defaults.items() if v not in registries[family_of[k]]}
        loaded = {i.distribution for i in self.kernel.plugins.info.values() if i.loaded}
        return {
            "kernel": {"version": __version__, "python": platform.python_version(), "platform": sys.platform,
                       "home": str(self.kernel.home)},
            "plugins": {name: {"distribution": i.distribution, "loaded": i.loaded, "errors": i.errors}
                        for name, i in self.kernel.plugins.info.items()},
            "registries": registries,
            "problems": problems + list(self.kernel.plugins.warnings),
            "world": {"name": world.name, "source": world.source, "defaults": dict(world.defaults),
                      "missing_defaults": missing_defaults,
                      "missing_plugins": [d for d in world.expects if d not in loaded]},
            "ledger": {"location": self.kernel.ledger.location, "head": _head(self.kernel.ledger)},
            "sandbox": protections(),
        }

    def validate_genesis(self, subject: Any = None, context: Optional[dict] = None) -> dict:
        """Run every registered guardrail against ``subject`` (``None``: the current world)."""
        guardrails = self.kernel.registry("guardrail")
        ctx = {"kernel": self.kernel, **(context or {})}
        items = []
        for name in guardrails:
            rail = guardrails.get(name)
            try:
                verdict = rail.check(subject, ctx)
                status, evidence = verdict.status, verdict.evidence
                violations = [v.message for v in verdict.violations]
            except Exception as exc:
                status, evidence, violations = "failed", f"the check itself raised {type(exc).__name__}: {exc}", []
            items.append({"id": rail.id, "principle": rail.principle, "text": rail.summary, "status": status,
                          "evidence": evidence, "violations": violations, "plugin": guardrails.owner(name)})
        counts = {s: sum(1 for i in items if i["status"] == s) for s in ("passed", "failed", "unchecked")}
        return {"items": items, "counts": counts, "guardrails": len(items),
                "compliant": bool(items) and counts["failed"] == 0 and counts["unchecked"] == 0}


def _head(ledger: Any) -> Optional[dict]:
    try:
        head = ledger.head()
    except Exception as exc:
        return {"error": str(exc)}
    return None if head is None else {"seq": head.get("seq"), "id": head.get("id"), "hash": head.get("hash")}


def _summary(value: Any) -> Any:
    """A small JSON-safe summary of a program's return value for the post checkpoint."""
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    return repr(value)[:200]
