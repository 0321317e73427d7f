"""Running programs: resolve a name, run it in-process or sandboxed, frame it with two ledger records.

Every run, whatever happens to it, is framed by two ledger records: a pre
checkpoint (``NODE_PRE``) before the program starts and a post checkpoint
(``NODE_POST``) with its outcome.
"""

from __future__ import annotations

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


def resolve_program(kernel: Any, spec: str, cartridge: Optional[str] = None, *, import_now: bool = True) -> Program:
    """A registered name, ``module:function``, or whatever a resolver plugin answers.

    ``import_now=False`` leaves a ``module:function`` unimported: a sandboxed run
    must not execute the module's top-level code in this (unsandboxed) process.
    """
    if cartridge is None:
        programs = kernel.registry("program")
        if spec in programs:
            return programs.get(spec)
        if ":" in spec:
            if import_now:
                load_entry(spec)
            return Program("module-function", spec, f"{spec} called directly", origin=spec)
    program = kernel.hook.pxos_resolve_program(spec=spec, cartridge=cartridge, kernel=kernel)
    if program is not None:
        return program
    if cartridge is not None:
        raise NotFoundError(f"cannot run {spec!r} from cartridge {cartridge!r}: no installed plugin resolves "
                            "cartridges (install pxos-cartridge)")
    known = ", ".join(kernel.registry("program").names()) or "none"
    raise NotFoundError(f"unknown program {spec!r}: not a registered program ({known}) "
                        "and not of the form package.module:function")


def run_program(kernel: Any, spec: str, args: Sequence[str] = (), *, cartridge: Optional[str] = None,
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
        program = resolve_program(kernel, spec, cartridge, import_now=not sandbox)
    except Exception as exc:
        pre = kernel.checkpoint("RUN", "run_program", {**base, "sandbox": sandbox}, corridor=PRE)
        kernel.checkpoint("RUN", "run_program", {
            **base, "pre": pre["id"], "status": "unresolved", "exit_code": 2, "error": str(exc),
            "duration": time.perf_counter() - started}, corridor=POST)
        raise
    sandboxed = sandbox or program.sandbox
    pre = kernel.checkpoint("RUN", "run_program", {
        **base, "entry": program.entry_path, "sandbox": sandboxed}, corridor=PRE)
    kernel.hook.pxos_program_started(kernel=kernel, program=program, args=args, record=pre)
    full_args = [*program.leading_args, *args]
    if sandboxed:
        from pxos_kernel.sandbox import Limits, run_sandboxed

        settings = {**kernel.section("sandbox"), **(limits or {})}
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
    post = kernel.checkpoint("RUN", "run_program", {
        **base, "pre": pre["id"], "status": result.status, "exit_code": result.exit_code,
        "error": result.error, "duration": round(result.duration, 6), "sandbox": sandboxed,
        "value": _summary(result.value)}, corridor=POST)
    result.post_id = post["id"]
    kernel.hook.pxos_program_finished(kernel=kernel, program=program, result=result, record=post)
    return result


def _summary(value: Any) -> Any:
    """A small JSON-safe summary of a program's return value for the post checkpoint."""
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    return repr(value)[:200]
