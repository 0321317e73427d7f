"""Running programs: resolve a name, run it in-process or sandboxed, frame it with two ledger records.

Every run, whatever happens to it, is framed by two ledger records: a pre
checkpoint (``NODE_PRE``) before the program starts and a post checkpoint
(``NODE_POST``) with its outcome.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from pxos_kernel.errors import NotFoundError
from pxos_kernel.programcall import call_program, load_entry
from pxos_kernel.registrations import Program

if TYPE_CHECKING:
    from pxos_kernel.sandbox import SandboxLimits

PRE = "DISTRICT_4.CHAMBER_EXEC.NODE_PRE"
POST = "DISTRICT_4.CHAMBER_EXEC.NODE_POST"
#: How a run ended. ``failed``: non-zero exit code; ``error``: it raised; ``timeout``, ``memory``,
#: ``cpu``, ``pids``: a sandbox limit was reached; ``killed``: a signal ended it.
STATUSES = ("ok", "failed", "error", "timeout", "memory", "cpu", "pids", "killed")


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


def sandbox_limits(kernel: Any, overrides: Optional[Mapping[str, Any]] = None) -> "SandboxLimits":
    """The sandbox limits of a run: config ``sandbox`` section, then this run's own values, all checked.

    A malformed value is refused with one line naming it (``SandboxLimitError``)
    before anything runs or is logged.
    """
    from pxos_kernel.sandbox import SandboxLimits

    settings = kernel.section("sandbox")
    settings.pop("mechanism", None)
    base = SandboxLimits.from_settings(settings, source=f"{kernel.home / 'config.yaml'} section sandbox")
    return SandboxLimits.from_settings(overrides or {}, source="command line", base=base)


def _protected(kernel: Any) -> list[str]:
    """What no sandboxed view of this kernel may contain besides the usual: its PXOS_HOME, its ledger's key."""
    key = kernel.section("ledger").get("hmac_key_file") or kernel.env.get("PXOS_LEDGER_KEY_FILE")
    return [str(kernel.home), *([os.path.expanduser(str(key))] if key else [])]


def _isolation(kernel: Any, required: bool, allow_unisolated: bool) -> str:
    """The mechanism a sandboxed run will get; SandboxUnavailable where none isolates and none is allowed."""
    from pxos_kernel.sandbox import SandboxUnavailable, mechanism

    chosen, why = mechanism(kernel.section("sandbox").get("mechanism"))
    if chosen == "none" and required and not allow_unisolated:
        raise SandboxUnavailable(f"refusing to run untrusted code without filesystem isolation: {why}; install "
                                 "bubblewrap, or pass --allow-unisolated to run it anyway (that is written to the "
                                 "ledger)")
    return chosen


def run_program(kernel: Any, spec: str, args: Sequence[str] = (), *, cartridge: Optional[str] = None,
                sandbox: bool = False, timeout: Optional[float] = None, capture: bool = False,
                limits: Optional[Mapping[str, Any]] = None, allow_unisolated: bool = False,
                read_only: Sequence[str] = ()) -> RunResult:
    """Run a program and return how it went; raises only if it cannot be found or run at all.

    ``sandbox=True`` (or a program that requires it) runs it through
    :func:`pxos_kernel.sandbox.run_program`. A program that requires the
    sandbox (an experimental cartridge's) is refused where no filesystem
    isolation works, unless ``allow_unisolated``; one the user chose to
    sandbox runs with whatever holds, and ``result.protections`` says what.
    A sandboxed program sees no file of the machine but the runtime, its own
    code and ``read_only`` (paths the user gave it, such as its input files).
    """
    args = [str(a) for a in args]
    started = time.perf_counter()
    base = {"program": spec, "args": args, "cartridge": cartridge}
    from pxos_kernel.system import booted_system

    system = booted_system()
    if system is not None:
        base["system"] = f"{system['name']}@{system['version']}" + ("" if system["current"] else " (not current)")
        # A system cartridge that is not the current one is on trial: all of its programs run sandboxed.
        sandbox = sandbox or not system["current"]
    overrides = {**(limits or {}), **({"timeout": timeout} if timeout is not None else {})}
    checked = sandbox_limits(kernel, overrides) if sandbox or overrides else None
    try:
        program = resolve_program(kernel, spec, cartridge, import_now=not sandbox)
    except Exception as exc:
        pre = kernel.checkpoint("RUN", "run_program", {**base, "sandbox": sandbox}, corridor=PRE)
        kernel.checkpoint("RUN", "run_program", {
            **base, "pre": pre["id"], "status": "unresolved", "exit_code": getattr(exc, "exit_code", 1), "error": str(exc),
            "duration": time.perf_counter() - started}, corridor=POST)
        raise
    sandboxed = sandbox or program.sandbox
    name = program.name if program.name != "module-function" else spec
    extra: dict = {}
    if sandboxed:
        checked = checked or sandbox_limits(kernel, overrides)
        extra = {"isolation": _isolation(kernel, program.sandbox, allow_unisolated),
                 "allow_unisolated": allow_unisolated}
    pre = kernel.checkpoint("RUN", "run_program", {
        **base, "entry": program.entry_path, "sandbox": sandboxed, **extra}, corridor=PRE)
    kernel.hook.pxos_program_started(kernel=kernel, program=program, args=args, record=pre)
    # A leading argument naming a file is the program's own code (a cartridge archive): shown read-only.
    leading = [os.path.abspath(a) if sandboxed and os.path.isfile(a) else a for a in program.leading_args]
    own_code = [a for a in leading if sandboxed and os.path.isfile(a)]
    full_args = [*leading, *args]
    if sandboxed:
        from pxos_kernel import sandbox as sandboxing

        outcome = sandboxing.run_program(program.entry_path, full_args, limits=checked, capture=capture,
                                         read_only=[*own_code, *read_only], allow_unisolated=True,
                                         protected=_protected(kernel),
                                         mechanism_choice=kernel.section("sandbox").get("mechanism"))
        result = _from_outcome(name, outcome)
    else:
        try:
            function = load_entry(program.entry_path) if isinstance(program.entry, str) else program.entry
            status, code, value, error = call_program(function, full_args)
        except Exception as exc:  # the import itself failed: still a logged run
            status, code, value, error = "error", 1, None, str(exc)
        result = RunResult(name, status, code, value, error)
        outcome = None
    result.duration = time.perf_counter() - started
    result.pre_id = pre["id"]
    post = _post(kernel, "run_program", {
        **base, "pre": pre["id"], "status": result.status, "exit_code": result.exit_code,
        "error": result.error, "duration": round(result.duration, 6), "sandbox": sandboxed,
        "value": _summary(result.value), **({"protections": result.protections} if sandboxed else {})})
    result.post_id = post["id"]
    kernel.hook.pxos_program_finished(kernel=kernel, program=program, result=result, record=post)
    if outcome is not None and outcome.interrupted:
        raise _interrupted(outcome.interrupted, name, post["id"])
    return result


def run_command(kernel: Any, argv: Sequence[str], *, label: str, cwd: Optional[str] = None,
                read_only: Sequence[str] = (), writable: Sequence[str] = (),
                limits: Optional[Mapping[str, Any]] = None, allow_unisolated: bool = False,
                env: Optional[Mapping[str, str]] = None, capture: bool = True,
                capture_limit: Optional[int] = None, site_packages: bool = True,
                details: Optional[Mapping[str, Any]] = None) -> RunResult:
    """Run an untrusted command sandboxed, framed by a pre and a post ledger record like any program.

    This is the one way plugins run code they did not write (a cartridge's
    tests, an evolution build's tests, an agent's proposal): ``argv`` with
    ``python`` meaning this interpreter, in ``cwd`` (which must be inside
    ``writable``), under the config's ``sandbox`` limits overridden by
    ``limits``. Where no filesystem isolation works it is refused
    (:class:`~pxos_kernel.sandbox.SandboxUnavailable`) unless
    ``allow_unisolated``; either way the choice is in the pre record.
    ``label`` names the run in the ledger (``"cartridge test greeter@1.0"``);
    ``details`` (JSON values) are added to both its records, for whoever
    looks the run up later (``{"archive": path}``)::

        result = kernel.hypervisor.run_command(["python", "-m", "pytest", "-q"], label="tests of my-change",
                                               cwd=str(tree), writable=[str(tree)], limits={"timeout": 120})
        if result.status != "ok":
            print(result.status, result.error, result.stdout[-2000:])
    """
    from pxos_kernel import sandbox as sandboxing

    started = time.perf_counter()
    checked = sandbox_limits(kernel, limits)
    isolation = _isolation(kernel, True, allow_unisolated)
    shown = [str(a)[:200] for a in list(argv)[:64]]
    base = {**(details or {}), "program": label, "command": shown, "cwd": cwd,
            "read_only": [str(p) for p in read_only], "writable": [str(p) for p in writable]}
    pre = kernel.checkpoint("RUN", "run_command", {**base, "sandbox": True, "isolation": isolation,
                                                   "allow_unisolated": allow_unisolated}, corridor=PRE)
    options: dict = {} if capture_limit is None else {"capture_limit": capture_limit}
    try:
        outcome = sandboxing.run_command(argv, cwd=cwd, read_only=read_only, writable=writable, limits=checked,
                                         capture=capture, env=env, allow_unisolated=True, protected=_protected(kernel),
                                         site_packages=site_packages,
                                         mechanism_choice=kernel.section("sandbox").get("mechanism"), **options)
    except Exception as exc:  # it could not even start: still a logged run
        _post(kernel, "run_command", {**base, "pre": pre["id"], "status": "error", "exit_code": 1,
                                      "error": str(exc), "duration": round(time.perf_counter() - started, 6)})
        raise
    result = _from_outcome(label, outcome)
    result.duration, result.pre_id = time.perf_counter() - started, pre["id"]
    post = _post(kernel, "run_command", {
        **base, "pre": pre["id"], "status": result.status, "exit_code": result.exit_code, "error": result.error,
        "duration": round(result.duration, 6), "sandbox": True, "protections": result.protections})
    result.post_id = post["id"]
    if outcome.interrupted:
        raise _interrupted(outcome.interrupted, label, post["id"])
    return result


def _from_outcome(name: str, outcome: Any) -> RunResult:
    return RunResult(name, outcome.status, outcome.exit_code, outcome.value, outcome.error, sandboxed=True,
                     stdout=outcome.stdout, stderr=outcome.stderr, protections=outcome.protections)


def _post(kernel: Any, op: str, payload: dict) -> dict:
    """Write a post record with terminating signals held back, so a second signal cannot lose it."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if threading.current_thread() is not threading.main_thread():
        return kernel.checkpoint("RUN", op, payload, corridor=POST)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        return kernel.checkpoint("RUN", op, payload, corridor=POST)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _interrupted(signum: int, name: str, post_id: str) -> BaseException:
    from pxos_kernel.sandbox import SandboxInterrupted

    return SandboxInterrupted(signum, f"interrupted by {signal.Signals(signum).name}: the sandboxed run of {name} "
                                      f"was killed, with all it started (ledger {post_id})")


def _summary(value: Any) -> Any:
    """A small JSON-safe summary of a program's return value for the post checkpoint."""
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    return repr(value)[:200]
