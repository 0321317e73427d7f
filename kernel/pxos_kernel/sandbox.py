"""Sandboxed runs: one API to run a command or a program where it cannot reach the rest of the machine.

:func:`run_command` runs an argv; :func:`run_program` runs a ``module:function``
on top of it. Both answer an :class:`SandboxOutcome` that the supervisor decided
from how the child ended, never from anything the child wrote::

    from pxos_kernel.sandbox import SandboxLimits, run_command

    outcome = run_command(["python", "-c", "print('hi')"], limits=SandboxLimits(timeout=5))
    assert (outcome.status, outcome.stdout) == ("ok", "hi\\n")

What a run gets, where this machine allows it (:func:`protections` probes
each part, and ``pxos-kernel inspect`` shows the answers):

* **Filesystem isolation** by the first mechanism that works here, best
  first: ``bubblewrap`` (a mount namespace showing only the runtime, the
  program's code and its scratch directory; see :mod:`pxos_kernel.sandbox_view`),
  then ``landlock`` (the kernel refuses every path outside the same set, see
  :mod:`pxos_kernel.sandbox_landlock`). Bubblewrap comes first because it
  also gives the PID, network and IPC namespaces, and because what is not
  mounted cannot be reached at all, unix sockets included; Landlock only
  refuses access, needs no privileges, and leaves the process tree and the
  path-named unix sockets to other means. Where neither works the run is
  *unisolated*: callers that run untrusted code refuse it unless the user
  passed ``--allow-unisolated`` (:class:`SandboxUnavailable`).
* **Whole-tree containment**: the program is PID 1's child in its own PID
  namespace (bubblewrap), so killing that namespace kills every descendant,
  ``setsid`` or not; its cgroup is killed too (:mod:`pxos_kernel.sandbox_cgroup`).
* **Tree-wide limits**: memory, process count and CPU time bind the whole tree
  through a cgroup where one is writable; otherwise memory and CPU are
  per-process rlimits and the process count is not bounded, which
  :func:`protections` and every outcome say.
* **Bounded capture**: stdout and stderr are read as they come, keeping the
  first and last part (``capture_limit`` bytes) with a marker where output was
  left out, so the supervisor's memory stays bounded whatever the child
  prints; it never waits on a pipe after the tree is dead.
* **Signals**: SIGINT, SIGTERM or SIGHUP to the supervisor kill the tree, and
  the outcome says ``killed`` with the signal (:attr:`SandboxOutcome.interrupted`).
"""

from __future__ import annotations

import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel.errors import ConfigError, SandboxError, UsageError

__all__ = ["SandboxLimits", "SandboxOutcome", "SandboxUnavailable", "SandboxInterrupted", "SandboxLimitError", "run_command", "run_program",
           "protections", "mechanism", "STATUSES"]

#: How a sandboxed run can end. ``failed``: non-zero exit; ``error``: the program raised;
#: ``timeout``/``memory``/``cpu``/``pids``: a limit was reached; ``killed``: a signal ended it.
STATUSES = ("ok", "failed", "error", "timeout", "memory", "cpu", "pids", "killed")
MECHANISMS = ("bubblewrap", "landlock", "none")
CAPTURE_LIMIT = 1 << 20
RESULT_LIMIT = 1 << 20
_DRAIN_SECONDS = 2.0
#: What the sandboxed interpreter runs first. It starts without ``site`` (``-I -S``: a third of a
#: bare start-up goes to ``.pth`` files), so it is given its import path and the editable packages.
_BOOT = """\
import sys, json, builtins
s = json.loads(sys.argv[1])
sys.path[:0] = s["path"]
builtins.exit = builtins.quit = sys.exit
class EditablePackages:
    @staticmethod
    def find_spec(name, path=None, target=None):
        where = s["packages"].get(name)
        if where is None:
            return None
        from importlib.util import spec_from_file_location
        if where.endswith(".py"):
            return spec_from_file_location(name, where)
        return spec_from_file_location(name, where + "/__init__.py", submodule_search_locations=[where])
sys.meta_path.append(EditablePackages)
from pxos_kernel.sandbox_child import main
main(s)
"""


class SandboxUnavailable(SandboxError):
    """No filesystem isolation can be had here, and the caller did not allow running without it."""

    exit_code = 3


class SandboxLimitError(UsageError, ConfigError):
    """A sandbox limit, from the command line or the config, is not a usable value (NaN, infinite, negative, absurd)."""

    exit_code = 2


class SandboxInterrupted(KeyboardInterrupt):
    """pxos-kernel was told to stop (SIGINT, SIGTERM, SIGHUP) during a sandboxed run; the tree was killed.

    Raised after the run's post record is written. It is a KeyboardInterrupt,
    so no ``except Exception`` goes on working after the user said stop; the
    command line prints its one line and exits with 128 + the signal number.
    """

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class Interrupted(BaseException):
    """The supervisor received a terminating signal (raised by the handler, caught by the supervisor)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: name -> (type, smallest allowed (exclusive for floats), largest allowed, unit)
_BOUNDS: dict[str, tuple[type, float, float, str]] = {
    "timeout": (float, 0.0, 7 * 86400.0, "seconds"),
    "memory_mb": (int, 16, 1 << 22, "MB"),
    "cpu_seconds": (float, 0.0, 7 * 86400.0, "seconds"),
    "processes": (int, 1, 1 << 20, "processes"),
}


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run, checked when made.

    Memory, CPU and processes bind the whole process tree where a cgroup is
    writable, else each process (memory, CPU) or nothing (processes); the
    outcome's ``protections`` say which held.
    """

    timeout: float = 30.0
    memory_mb: int = 1024
    cpu_seconds: float = 60.0
    processes: int = 256
    network: bool = False

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            object.__setattr__(self, name, check_limit(name, getattr(self, name)))
        if not isinstance(self.network, bool):
            raise SandboxLimitError(f"sandbox limit network = {self.network!r}: must be true or false")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, source: str = "sandbox settings",
                      base: Optional["SandboxLimits"] = None) -> "SandboxLimits":
        """SandboxLimits from a mapping (a config section, command-line values), on top of ``base``.

        ``source`` names where the values came from, for the one-line error:
        ``"config.yaml section sandbox"`` or ``"the command line"``.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known - {"mechanism"})
        if unknown:
            raise SandboxLimitError(f"{source}: unknown sandbox setting(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known | {'mechanism'}))})")
        values = {k: v for k, v in settings.items() if k in known and v is not None}
        for name, value in values.items():
            if name in _BOUNDS:
                values[name] = check_limit(name, value, source)
        return replace(base or cls(), **values)


def check_limit(name: str, value: Any, source: str = "sandbox settings") -> Any:
    """``value`` as the type of limit ``name``; SandboxLimitError naming the setting when it is unusable."""
    kind, low, high, unit = _BOUNDS[name]
    where = (f"--{name.replace('_', '-')} {value}" if source == "command line" else f"{source}: {name} = {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SandboxLimitError(f"{where} is not a number of {unit}")
    try:
        number = float(value)
    except ValueError:
        raise SandboxLimitError(f"{where} is not a number of {unit}") from None
    if not math.isfinite(number):
        raise SandboxLimitError(f"{where} is not a finite number of {unit}")
    if kind is int and number != int(number):
        raise SandboxLimitError(f"{where} must be a whole number of {unit}")
    if (number <= low if kind is float else number < low) or number > high:
        bound = f"more than {low:g}" if kind is float else f"at least {low:g}"
        raise SandboxLimitError(f"{where} must be {bound} and at most {high:g} {unit}")
    return kind(number)


@dataclass
class SandboxOutcome:
    """How one sandboxed run ended, as the supervisor saw it.

    ``value`` is what a program returned (accepted only when it exited 0, as
    valid JSON of at most ``RESULT_LIMIT`` bytes). ``stdout``/``stderr`` are
    ``None`` unless captured. ``protections`` says what held for this run.
    ``interrupted`` is the signal number when the supervisor itself was told
    to stop.
    """

    status: str
    exit_code: int
    error: Optional[str] = None
    value: Any = None
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    duration: float = 0.0
    protections: dict = field(default_factory=dict)
    interrupted: Optional[int] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# -- mechanisms ------------------------------------------------------------------------------

_probes: dict[str, Any] = {}


def forget_probes() -> None:
    """Probe the mechanisms again on the next run (after installing bubblewrap, or changing PATH)."""
    _probes.clear()


def _bwrap_probe() -> dict:
    """Whether bubblewrap runs here with the flags the sandbox uses (probed once per process)."""
    if "bubblewrap" in _probes:
        return _probes["bubblewrap"]
    binary = shutil.which("bwrap")
    result: dict = {"works": False, "binary": binary, "disable_userns": False}
    if binary is None:
        result["problem"] = "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    else:
        from pxos_kernel.sandbox_view import View, bwrap_command

        view = View(read_only=(), writable=(), cwd="/")
        for disable in (True, False):
            argv = bwrap_command(binary, view, ["true"], disable_userns=disable)
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            except (OSError, subprocess.SubprocessError) as exc:
                result["problem"] = f"bwrap cannot start: {exc}"
                break
            if done.returncode == 0:
                result.update(works=True, disable_userns=disable)
                result.pop("problem", None)
                break
            result["problem"] = "bwrap fails here: " + (done.stderr.decode(errors="replace").strip() or
                                                        f"exit status {done.returncode}")
    _probes["bubblewrap"] = result
    return result


def _landlock_probe() -> dict:
    if "landlock" not in _probes:
        from pxos_kernel.sandbox_landlock import probe

        _probes["landlock"] = probe()
    return _probes["landlock"]


def _cgroups() -> dict:
    """The writable cgroup hierarchies, kept only if a trial cgroup can really be made and limited in them."""
    if "cgroups" not in _probes:
        from pxos_kernel.sandbox_cgroup import TreeCgroup, hierarchies

        found = hierarchies()
        trial = TreeCgroup.create(64 << 20, 16, found) if found else None
        if trial is not None:
            trial.remove()
        _probes["cgroups"] = found if trial is not None else {}
    return _probes["cgroups"]


def mechanism(choice: Optional[str] = None) -> tuple[str, str]:
    """The filesystem-isolation mechanism a run gets here, and a line saying why.

    ``choice`` (config ``sandbox.mechanism``, or ``PXOS_SANDBOX_MECHANISM``)
    is ``auto`` (the best that works), or one name of :data:`MECHANISMS` to
    insist on: a named mechanism that does not work here is an error.
    """
    choice = (os.environ.get("PXOS_SANDBOX_MECHANISM") or choice or "auto").strip().lower()
    if choice not in ("auto", *MECHANISMS):
        raise ConfigError(f"sandbox mechanism {choice!r} is not one of auto, {', '.join(MECHANISMS)}")
    if choice == "none":
        return "none", "filesystem isolation switched off (sandbox mechanism 'none')"
    problems = []
    for name, probe in (("bubblewrap", _bwrap_probe), ("landlock", _landlock_probe)):
        if choice not in ("auto", name):
            continue
        found = probe()
        if found["works"]:
            return name, f"{name} works here"
        if choice == name:
            raise SandboxError(f"sandbox mechanism {name} was asked for but does not work here: {found['problem']}")
        problems.append(f"{name}: {found['problem']}")
    return "none", "no filesystem isolation here (" + "; ".join(problems) + ")"


def protections(choice: Optional[str] = None) -> dict:
    """Each protection a sandboxed run gets on this machine, probed, with how it holds.

    Every entry is ``{"enforced": bool, "how": str}``; ``how`` says what
    enforces it or why nothing does.
    """
    chosen, why = mechanism(choice)
    cgroups = _cgroups()
    bwrap = chosen == "bubblewrap"
    landlock = _landlock_probe()
    if bwrap:
        filesystem = "bubblewrap mount namespace: read-only runtime and code, writable scratch, private /tmp"
    elif chosen == "landlock":
        filesystem = (f"Landlock ABI {landlock['abi']}: access refused outside the read-only runtime and code "
                      "and the writable scratch")
    else:
        filesystem = why + ": the program can read and write what you can"
    tree = ("bubblewrap PID namespace: the tree dies with its PID 1" if bwrap else
            "cgroup: every member is killed" if cgroups else
            "process group only: a setsid descendant escapes it")
    network = bwrap or landlock["unshare_net"]
    unix = bwrap or (chosen == "landlock" and landlock["unix_blocked"])

    def limit(resource: str, fallback: str) -> dict:
        if resource in cgroups:
            return {"enforced": True, "how": f"whole tree: {cgroups[resource].describe()}"}
        return {"enforced": bool(fallback), "how": fallback or "not bounded: no writable cgroup here"}

    return {
        "mechanism": {"enforced": chosen != "none", "how": f"{chosen} ({why})"},
        "filesystem_isolation": {"enforced": chosen != "none", "how": filesystem},
        "child_process": {"enforced": True, "how": "a separate process in its own session"},
        "timeout": {"enforced": True, "how": "wall-clock deadline kept by the supervisor, then SIGKILL"},
        "whole_tree_killed": {"enforced": bwrap or bool(cgroups), "how": tree},
        "memory_limit": limit("memory", "per process only: RLIMIT_AS (no writable memory cgroup here)"),
        "process_limit": limit("pids", ""),
        "cpu_limit": limit("cpu", "per process only: RLIMIT_CPU (no writable cpu cgroup here)"),
        "scratch_directory": {"enforced": True, "how": "fresh temporary directory, removed afterwards"},
        "scrubbed_environment": {"enforced": True, "how": "only PATH, HOME, TMPDIR, LANG and what the caller "
                                                          "names are passed"},
        "no_network": {"enforced": network, "how": "empty network namespace" + (" (bubblewrap)" if bwrap else
                                                                                  " (unshare(CLONE_NEWNET))")
                       if network else "the program can reach the network (no network namespace here)"},
        "no_unix_sockets": {"enforced": unix, "how": (
            "no socket path is mounted and abstract sockets stay in the host's network namespace" if bwrap else
            "seccomp refuses socket(AF_UNIX) and Landlock scopes abstract sockets" if unix else
            "unix sockets the user can reach are reachable")},
        "bounded_capture": {"enforced": True, "how": f"first and last {CAPTURE_LIMIT // 2} bytes of each stream "
                                                     "kept, with a marker where output was left out"},
    }


def mechanisms_report() -> dict:
    """Mechanism by mechanism, what really works on this machine (for ``inspect``)."""
    bwrap, landlock, cgroups = _bwrap_probe(), _landlock_probe(), _cgroups()
    return {
        "bubblewrap": {"works": bwrap["works"], "binary": bwrap["binary"],
                       "detail": bwrap.get("problem") or ("user, PID, network, IPC, UTS and mount namespaces; "
                                                          "capabilities dropped" +
                                                          ("; nested user namespaces refused"
                                                           if bwrap["disable_userns"] else ""))},
        "landlock": {"works": landlock["works"], "abi": landlock["abi"],
                     "detail": landlock.get("problem") or landlock["detail"]},
        "cgroup": {"works": bool(cgroups),
                   "detail": "; ".join(f"{r}: {h.describe()}" for r, h in sorted(cgroups.items())) or
                   "no writable cgroup (v2 with memory/pids delegated, or v1 memory/pids/cpuacct): "
                   "limits are per process"},
    }


# -- running ----------------------------------------------------------------------------------

def run_command(argv: Sequence[str], *, cwd: Optional[str] = None, read_only: Sequence[str] = (),
                writable: Sequence[str] = (), limits: Optional[SandboxLimits] = None, capture: bool = True,
                capture_limit: int = CAPTURE_LIMIT, env: Optional[Mapping[str, str]] = None,
                python: bool = True, site_packages: bool = True, allow_unisolated: bool = False,
                mechanism_choice: Optional[str] = None, protected: Sequence[str] = (),
                _result: Optional[str] = None) -> SandboxOutcome:
    """Run ``argv`` sandboxed and return how it ended. Raises only before anything runs.

    ``argv[0]`` of ``python`` or ``python3`` means this interpreter. The
    program starts in ``cwd`` (default: a fresh scratch directory, which is
    also ``HOME``); ``cwd`` must be inside ``writable`` or ``read_only``.
    ``read_only`` and ``writable`` are host paths shown at the same place (a
    cartridge archive, a work tree). ``python`` adds this interpreter's runtime
    to the view, with its site-packages and editable package directories
    unless ``site_packages`` is false (a program that brings its own code in
    an archive needs the standard library only).

    No view contains your home directory, ``PXOS_HOME``, the ledger's key file
    or a path of ``protected``: they are cut out of every directory shown
    read-only, and a writable path holding one is refused (paths *inside*
    them are fine, such as a work tree under ``PXOS_HOME``).

    Where no filesystem isolation works here, :class:`SandboxUnavailable` is
    raised unless ``allow_unisolated``; then the run goes ahead with every
    protection that does hold, and ``protections["filesystem"]`` says
    ``"none"``.

    Example, a work tree the tests may write to and an archive they may read::

        outcome = run_command(["python", "-m", "pytest", "-q"], cwd=str(tree), writable=[str(tree)],
                              read_only=[str(archive)], limits=SandboxLimits(timeout=120, processes=64))
        print(outcome.status, outcome.exit_code, outcome.stdout[-200:])
    """
    if not argv:
        raise SandboxError("nothing to run: the command is empty")
    limits = limits or SandboxLimits()
    chosen, why = mechanism(mechanism_choice)
    if chosen == "none" and not allow_unisolated:
        raise SandboxUnavailable(f"refusing to run untrusted code without filesystem isolation: {why}; "
                                 "install bubblewrap, or pass --allow-unisolated to run it anyway "
                                 "(that choice is written to the ledger)")
    argv = [str(a) for a in argv]
    argv[0] = sys.executable if argv[0] in ("python", "python3") else argv[0]
    found = shutil.which(argv[0], path=_child_path())
    if found is None:
        raise SandboxError(f"cannot run {argv[0]!r}: it is not a program on the sandbox's PATH ({_child_path()})")
    argv[0] = found
    staging = tempfile.mkdtemp(prefix="pxos-sandbox-")
    scratch = os.path.join(staging, "work")
    os.mkdir(scratch)
    cwd = os.path.abspath(cwd) if cwd else scratch
    writable_paths = [scratch, *(os.path.abspath(p) for p in writable)]
    if _result:
        writable_paths.append(os.path.dirname(_result))
    read_only_paths = [os.path.abspath(p) for p in read_only]
    missing = [p for p in read_only_paths + writable_paths if not os.path.exists(p)]
    if missing:
        shutil.rmtree(staging, ignore_errors=True)
        raise SandboxError(f"cannot show {missing[0]} to the sandboxed program: it does not exist")
    from pxos_kernel.sandbox_cgroup import TreeCgroup

    cgroup = TreeCgroup.create(limits.memory_mb << 20, limits.processes, _cgroups())
    try:
        command, tmpdir, held, confine = _wrap(chosen, argv, limits, cwd, read_only_paths, writable_paths, python,
                                               site_packages, protected, staging)
        child_env = _environment(scratch, tmpdir, env)
        try:
            outcome = _supervise(command, cwd, child_env, limits, cgroup, capture, capture_limit, confine)
        finally:
            if confine.ruleset is not None:
                os.close(confine.ruleset)
        held.update(_limits_held(limits, cgroup), allow_unisolated=allow_unisolated)
        outcome.protections = held
        if _result:
            _accept_result(outcome, _result)
        return outcome
    finally:
        if cgroup is not None:
            cgroup.kill()
            cgroup.remove()
        shutil.rmtree(staging, ignore_errors=True)


def _wrap(chosen: str, argv: list[str], limits: SandboxLimits, cwd: str, read_only: list[str], writable: list[str],
          python: bool, site_packages: bool, protected: Sequence[str],
          staging: str) -> tuple[list[str], str, dict, "_Confinement"]:
    """The command that runs ``argv`` under ``chosen``, the child's TMPDIR, what that gives, and what the
    child must do to itself before exec."""
    from pxos_kernel import sandbox_view as views

    runtime = views.python_runtime(site_packages) if python else []
    secrets = views.protected_paths(protected)
    problem = views.check_view(["/"] if "/" in read_only else writable, secrets)
    if problem:
        raise SandboxError(problem)
    visible = tuple(views.around(
        [p for p in views.minimal_paths([*runtime, *read_only])
         if not any(p == d or p.startswith(d + "/") for d in views.SYSTEM_DIRS if not os.path.islink(d))],
        secrets))
    view = views.View(read_only=visible, writable=views.minimal_paths(writable), cwd=cwd, network=limits.network)
    held = {"mechanism": chosen, "filesystem": chosen, "network": "allowed" if limits.network else "isolated"}
    if chosen == "bubblewrap":
        probe = _bwrap_probe()
        command = views.bwrap_command(probe["binary"], view, argv, disable_userns=probe["disable_userns"])
        held["tree"] = "pid namespace"
        return command, "/tmp", held, _Confinement()
    tmpdir = os.path.join(staging, "work", ".tmp")
    os.mkdir(tmpdir)
    landlock = _landlock_probe()
    isolate = not limits.network and bool(landlock["unshare_net"])
    if not isolate and not limits.network:
        held["network"] = "allowed (no network namespace here)"
    held["tree"] = "cgroup" if _cgroups() else "process group"
    ruleset = None
    if chosen == "landlock":
        from pxos_kernel import sandbox_landlock

        system = [d for d in views.SYSTEM_DIRS + views.SYSTEM_FILES if os.path.exists(d)]
        ruleset = sandbox_landlock.ruleset([*system, *view.read_only, "/dev/urandom", "/dev/zero"],
                                           [*view.writable, "/dev/null"])
        held["unix_sockets"] = "refused" if landlock["unix_blocked"] else "reachable"
    else:
        held.update(filesystem="none", unix_sockets="reachable")
    return argv, tmpdir, held, _Confinement(ruleset, isolate, drop_capabilities=True)


def _child_path() -> str:
    """The sandboxed program's PATH: this interpreter's scripts directory, then the system's."""
    return os.pathsep.join(dict.fromkeys([os.path.dirname(os.path.abspath(sys.executable)), "/usr/local/bin",
                                          "/usr/bin", "/bin"]))


def _environment(home: str, tmpdir: str, extra: Optional[Mapping[str, str]]) -> dict:
    env = {"PATH": _child_path(), "HOME": home, "TMPDIR": tmpdir, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for name, value in (extra or {}).items():
        if not name or "=" in name or "\0" in name + str(value):
            raise SandboxError(f"environment variable {name!r} cannot be passed to a sandboxed program")
        env[name] = str(value)
    return env


def _limits_held(limits: SandboxLimits, cgroup: Any) -> dict:
    dirs = cgroup.directories if cgroup is not None else {}

    def scope(resource: str, fallback: str) -> str:
        return f"whole tree (cgroup v{dirs[resource][0]})" if resource in dirs else fallback

    return {"timeout": limits.timeout, "memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
            "processes": limits.processes, "memory": scope("memory", "per process (RLIMIT_AS)"),
            "cpu": scope("cpu", "per process (RLIMIT_CPU)"), "pids": scope("pids", "not bounded")}


class _Capture:
    """The first and last bytes of one stream, and how many were left out between them.

    Every buffer is allocated once, here: reads go into a fixed chunk buffer
    (``os.readv``) and the tail is a ring, so reading any amount of output
    allocates nothing more. (Growing and trimming a bytearray, with a new
    ``bytes`` per read, fragmented the heap into hundreds of MB when the
    reader fell behind on a loaded machine.)
    """

    CHUNK = 1 << 16

    def __init__(self, limit: int) -> None:
        self.head = bytearray(limit // 2)
        self.ring = bytearray(limit - len(self.head))
        self.chunk = bytearray(self.CHUNK)
        self.view = memoryview(self.chunk)
        self.head_used = self.ring_used = self.ring_at = self.total = 0

    def read_from(self, fd: int) -> int:
        """Read once from ``fd`` into the capture; the number of bytes (0 at end of stream)."""
        count = os.readv(fd, [self.chunk])
        if count:
            self.feed(self.view[:count])
        return count

    def feed(self, data: memoryview) -> None:
        self.total += len(data)
        room = len(self.head) - self.head_used
        if room > 0:
            taken = min(room, len(data))
            self.head[self.head_used:self.head_used + taken] = data[:taken]
            self.head_used += taken
            data = data[taken:]
        size = len(self.ring)
        while len(data) and size:
            taken = min(size - self.ring_at, len(data))
            self.ring[self.ring_at:self.ring_at + taken] = data[:taken]
            self.ring_at = (self.ring_at + taken) % size
            self.ring_used = min(size, self.ring_used + taken)
            data = data[taken:]

    def text(self) -> str:
        if self.ring_used < len(self.ring):
            tail = bytes(self.ring[:self.ring_used])
        else:
            tail = bytes(self.ring[self.ring_at:]) + bytes(self.ring[:self.ring_at])
        dropped = self.total - self.head_used - len(tail)
        middle = (f"\n[pxos sandbox: {dropped} bytes of output left out here; the first {len(self.head)} and "
                  f"last {len(self.ring)} bytes are kept]\n").encode() if dropped else b""
        return (bytes(self.head[:self.head_used]) + middle + tail).decode("utf-8", "replace")


@dataclass(frozen=True)
class _Confinement:
    """What the child does to itself before exec when bubblewrap does not do it."""

    ruleset: Optional[int] = None  # a Landlock ruleset to enforce
    isolate_network: bool = False  # unshare an empty network namespace
    drop_capabilities: bool = False  # empty the bounding set (matters when running as root)

    @property
    def needed(self) -> bool:
        return self.ruleset is not None or self.isolate_network or self.drop_capabilities


def _preexec(limits: SandboxLimits, cgroup: Any, confine: _Confinement) -> Any:
    """What the child does between fork and exec: join the cgroups, set rlimits, confine itself."""
    import resource

    cpu = math.ceil(limits.cpu_seconds)
    memory = limits.memory_mb << 20
    per_process_memory = cgroup is None or "memory" not in cgroup.directories
    if confine.needed:
        from pxos_kernel import sandbox_landlock as landlock

        program = landlock.socket_filter() if confine.ruleset is not None else None
        last_cap = landlock.last_capability()

    def setup() -> None:
        if cgroup is not None:
            cgroup.join()
        if confine.needed:
            landlock.die_with_parent()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if per_process_memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if confine.isolate_network:
            landlock.isolate_network()
        if confine.drop_capabilities:
            landlock.drop_capabilities(last_cap)
        if confine.ruleset is not None:  # last: after it, the cgroup files are out of reach
            landlock.enforce(confine.ruleset, program)

    return setup


#: The launcher of a bubblewrap run: join the cgroups, set the per-process rlimits, exec. A shell does
#: it because a Python ``preexec_fn`` forces a full fork() of the supervisor (a vfork cannot run Python).
_LAUNCH = """\
cpu=$1 mem=$2; shift 2
while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift
ulimit -c 0; ulimit -S -t "$cpu"; ulimit -H -t $((cpu + 1))
[ "$mem" = - ] || ulimit -v "$mem"
exec "$@"
"""


def _launcher(command: list[str], limits: SandboxLimits, cgroup: Any) -> Optional[list[str]]:
    """``command`` behind the shell launcher, or None where there is no /bin/sh."""
    if not os.path.exists("/bin/sh"):
        return None
    procs = [os.fsdecode(p) for p in cgroup.procs_files] if cgroup is not None else []
    memory = "-" if cgroup is not None and "memory" in cgroup.directories else str(limits.memory_mb << 10)
    return ["/bin/sh", "-c", _LAUNCH, "pxos-sandbox", str(math.ceil(limits.cpu_seconds)), memory, *procs, "--",
            *command]


def _supervise(command: list[str], cwd: str, env: dict, limits: SandboxLimits, cgroup: Any, capture: bool,
               capture_limit: int, confine: _Confinement = _Confinement()) -> SandboxOutcome:
    """Start ``command``, keep the deadline and the CPU budget, read its output with a bound, decide."""
    started = time.monotonic()
    deadline = started + limits.timeout
    pipe = subprocess.PIPE if capture else None
    captures = {"stdout": _Capture(capture_limit), "stderr": _Capture(capture_limit)} if capture else {}
    reason: Optional[str] = None
    with _SignalsInterrupt() as signals:
        launched = None if confine.needed else _launcher(command, limits, cgroup)
        try:
            proc = subprocess.Popen(launched or command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=pipe,
                                    stderr=pipe, start_new_session=True,
                                    preexec_fn=None if launched else _preexec(limits, cgroup, confine))
        except OSError as exc:
            raise SandboxError(f"cannot start {command[0]!r}: {exc.strerror or exc}") from None
        try:
            try:
                reason = _watch(proc, captures, deadline, limits, cgroup)
            except Interrupted:
                reason = "interrupted"
            _end(proc, cgroup, captures, reason)
        except Interrupted:  # the signal came while the tree was being ended: end it the hard way
            reason = "interrupted"
            _end(proc, cgroup, captures, reason)
    outcome = _decide(proc.returncode, reason, limits, cgroup)
    outcome.duration = time.monotonic() - started
    outcome.interrupted = signals.received
    if capture:
        outcome.stdout, outcome.stderr = captures["stdout"].text(), captures["stderr"].text()
    return outcome


def _end(proc: subprocess.Popen, cgroup: Any, captures: dict, reason: Optional[str]) -> None:
    """Make sure nothing of the tree is left, reap it, and read the rest of its output (bounded in time)."""
    if reason is not None or proc.poll() is None:
        _kill(proc, cgroup)
    elif cgroup is not None:  # the program is done; nothing it started may outlive it
        cgroup.kill()
    proc.wait()
    _drain(proc, captures, time.monotonic() + (0.2 if reason else _DRAIN_SECONDS))


def _watch(proc: subprocess.Popen, captures: dict, deadline: float, limits: SandboxLimits, cgroup: Any) -> Optional[str]:
    """Read output until the process ends; the limit that ended it, or None when it ended by itself."""
    selector = selectors.DefaultSelector()
    for name in captures:
        stream = getattr(proc, name)
        os.set_blocking(stream.fileno(), False)
        selector.register(stream, selectors.EVENT_READ, name)
    exited = os.pidfd_open(proc.pid) if hasattr(os, "pidfd_open") else None
    if exited is not None:
        selector.register(exited, selectors.EVENT_READ, None)
    cpu_watch = cgroup is not None and "cpu" in cgroup.directories
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if cpu_watch and (cgroup.cpu_seconds() or 0.0) >= limits.cpu_seconds:
                return "cpu"
            wait = min(deadline - now, 0.1 if cpu_watch or exited is None else deadline - now)
            for key, _ in selector.select(wait):
                if key.data is not None:
                    _read(key.fileobj, captures[key.data], selector)
        return None
    finally:
        selector.close()
        if exited is not None:
            os.close(exited)


def _read(stream: Any, capture: _Capture, selector: Optional[selectors.BaseSelector]) -> bool:
    """Read what is there; False at end of stream."""
    try:
        count = capture.read_from(stream.fileno())
    except BlockingIOError:
        return True
    if not count:
        if selector is not None:
            selector.unregister(stream)
        return False
    return True


def _drain(proc: subprocess.Popen, captures: dict, until: float) -> None:
    """Read what is left in the pipes until they close, but never past ``until``: a holder may have escaped."""
    streams = {name: getattr(proc, name) for name in captures}
    selector = selectors.DefaultSelector()
    for name, stream in streams.items():
        selector.register(stream, selectors.EVENT_READ, name)
    try:
        while selector.get_map() and time.monotonic() < until:
            for key, _ in selector.select(max(0.0, until - time.monotonic())):
                _read(key.fileobj, captures[key.data], selector)
    finally:
        selector.close()
        for stream in streams.values():
            stream.close()


def _kill(proc: subprocess.Popen, cgroup: Any) -> None:
    """SIGKILL the whole tree: bubblewrap's namespace dies with it, the cgroup and process group too."""
    for action in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        try:
            action()
        except OSError:
            pass
    if cgroup is not None:
        cgroup.kill()


class _SignalsInterrupt:
    """While supervising, the first SIGINT/SIGTERM/SIGHUP raises :class:`Interrupted` (main thread only).

    Later ones are only noted: the supervisor is already ending the tree.
    """

    def __enter__(self) -> "_SignalsInterrupt":
        self.old: dict = {}
        self.received: Optional[int] = None
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self.old[signum] = signal.signal(signum, self._handler)
        return self

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is None:
            self.received = signum
            raise Interrupted(signum)

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self.old.items():
            signal.signal(signum, previous)


def _decide(returncode: int, reason: Optional[str], limits: SandboxLimits, cgroup: Any) -> SandboxOutcome:
    """The status, from the supervisor's own observations first and the exit status last."""
    if reason == "timeout":
        return SandboxOutcome("timeout", 124, f"killed after the {limits.timeout:g} s timeout")
    if reason == "cpu":
        return SandboxOutcome("cpu", 137, f"killed: the whole tree used its {limits.cpu_seconds:g} s of CPU time")
    if reason == "interrupted":
        return SandboxOutcome("killed", 137, "killed: the supervisor was told to stop")
    code = returncode if returncode >= 0 else 128 - returncode  # a direct child killed by a signal
    if code == 0:
        return SandboxOutcome("ok", 0)
    if cgroup is not None and cgroup.oom_kills():
        return SandboxOutcome("memory", 137, f"killed: the tree reached its memory limit of {limits.memory_mb} MB "
                                      f"(whole tree, cgroup v{cgroup.directories['memory'][0]})")
    if cgroup is not None and cgroup.pids_refused():
        return SandboxOutcome("pids", code, f"the tree reached its limit of {limits.processes} processes (a fork was "
                                     f"refused) and exited with {code}")
    if code == 128 + signal.SIGXCPU:
        return SandboxOutcome("cpu", 137, f"killed: a process used its {limits.cpu_seconds:g} s of CPU time (RLIMIT_CPU)")
    if code > 128 and code - 128 < signal.NSIG:
        name = signal.Signals(code - 128).name if code - 128 in signal.valid_signals() else f"signal {code - 128}"
        return SandboxOutcome("killed", code, f"ended by {name} (exit status {code})")
    return SandboxOutcome("failed", code, f"exited with {code}")


def _accept_result(outcome: SandboxOutcome, path: str) -> None:
    """Read a program's report: its value when it exited 0, its error when it raised (exit status 1).

    The report is a file the program itself could have written, so it only
    ever adds detail: it never turns a failure into success, and it is read
    with a bound and checked against the schema before anything is taken.
    """
    report, problem = _read_report(path)
    if outcome.status == "ok":
        if problem:
            outcome.status, outcome.exit_code = "error", 1
            outcome.error = f"the program's result was refused: {problem}"
        elif report is not None and set(report) == {"value"}:
            outcome.value = report["value"]
        elif report is not None:
            outcome.status, outcome.exit_code = "error", 1
            outcome.error = "the program's result was refused: it is not an object with exactly the key 'value'"
    elif (outcome.status == "failed" and outcome.exit_code == 1 and report is not None and not problem
          and set(report) == {"kind", "error"} and report["kind"] in ("error", "memory")
          and isinstance(report["error"], str)):
        outcome.status, outcome.error = report["kind"], report["error"][:4000]


def _read_report(path: str) -> tuple[Optional[dict], Optional[str]]:
    try:
        size = os.path.getsize(path)
    except OSError:
        return None, None  # ended without a report
    if size > RESULT_LIMIT:
        return None, f"it is {size} bytes, over the {RESULT_LIMIT} byte limit"
    try:
        with open(path, "rb") as stream:
            data = json.loads(stream.read(RESULT_LIMIT))
    except (OSError, ValueError) as exc:
        return None, f"it is not JSON ({exc})"
    if not isinstance(data, dict):
        return None, "it is not a JSON object"
    return data, None


def run_program(entry: str, args: Sequence[str] = (), *, limits: Optional[SandboxLimits] = None, capture: bool = False,
                read_only: Sequence[str] = (), search_path: Optional[Sequence[str]] = None,
                allow_unisolated: bool = False, **options: Any) -> SandboxOutcome:
    """Run ``entry`` (``package.module:function``) with ``args`` in a sandboxed child interpreter.

    The module is never imported here: its file or package directory is
    found on ``search_path`` (default ``sys.path``) and shown read-only. The
    function's return value comes back in :attr:`SandboxOutcome.value` when the
    child exits 0; an int is its exit code. Other options are those of
    :func:`run_command`.

        outcome = run_program("pxos_kernel.programs:hello", ["Ada"], capture=True)
        assert outcome.stdout == "Hello, Ada, from pxOS!\\n"
    """
    from pxos_kernel.sandbox_view import module_location

    search = [p for p in (search_path if search_path is not None else sys.path) if p]
    module = entry.partition(":")[0]
    own = module_location(module, search) if module else None
    out_dir = tempfile.mkdtemp(prefix="pxos-sandbox-result-")
    result = os.path.join(out_dir, "out", "result.json")
    os.mkdir(os.path.dirname(result))
    if own and os.path.isfile(own) and mechanism(options.get("mechanism_choice"))[0] == "landlock":
        # Landlock cannot show one file without its directory's listing: give the module a directory of its own.
        code = os.path.join(out_dir, "code")
        os.mkdir(code)
        shutil.copy2(own, code)
        own = code
        search.insert(0, code)
    from pxos_kernel.sandbox_view import editable_packages

    spec = {"entry": entry, "args": [str(a) for a in args], "result": result, "path": search,
            "packages": editable_packages() if options.get("site_packages", True) else {}}
    from pxos_kernel.system import booted_system, python_command

    system = booted_system()
    if system is not None:  # from a system cartridge the child boots the same archive, checking its sha256 first
        command = python_command("pxos_kernel.sandbox_child", [json.dumps(spec)])
        read_only = [*read_only, system["archive"], system["shim"]]
    else:
        command = [sys.executable, "-I", "-S", "-c", _BOOT, json.dumps(spec)]
    try:
        return run_command(command, limits=limits, capture=capture,
                           read_only=[*read_only, *([own] if own else [])], allow_unisolated=allow_unisolated,
                           _result=result, **options)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
