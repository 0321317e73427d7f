"""Sandboxed runs: a child process with limits, a scratch directory and no network.

The child is a fresh ``python -I`` (isolated mode: no user site, no
``PYTHON*`` variables) started in an empty scratch directory with a scrubbed
environment, in its own session so that a timeout kills the whole process
group. Inside it, before the program is imported, ``RLIMIT_AS`` and
``RLIMIT_CPU`` are set. Where ``unshare -rn`` works (an unprivileged user and
network namespace) the child gets no network at all. :func:`protections`
reports exactly which of these hold on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from pxos_kernel.errors import ConfigError

_BOOT = ("import sys,json;s=json.loads(sys.argv[1]);sys.path[:0]=s['path'];"
         "from pxos_kernel.sandbox_child import main;main(s)")
_unshare_works: Optional[bool] = None
_MAX_CAPTURE = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    timeout: float = 30.0
    memory_mb: int = 1024
    cpu_seconds: int = 60
    network: bool = False

    @classmethod
    def from_settings(cls, settings: dict) -> "Limits":
        try:
            limits = cls(
                timeout=float(settings.get("timeout", cls.timeout)),
                memory_mb=int(settings.get("memory_mb", cls.memory_mb)),
                cpu_seconds=int(settings.get("cpu_seconds", cls.cpu_seconds)),
                network=bool(settings.get("network", cls.network)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"sandbox settings are invalid: {exc}") from None
        if limits.timeout <= 0 or limits.memory_mb <= 0 or limits.cpu_seconds <= 0:
            raise ConfigError("sandbox timeout, memory_mb and cpu_seconds must be positive")
        return limits


@dataclass
class Outcome:
    status: str
    exit_code: int
    value: Any = None
    error: Optional[str] = None
    stdout: Optional[str] = None
    stderr: Optional[str] = None
    protections: Optional[dict] = None


def network_isolation_available() -> bool:
    """Whether ``unshare -rn`` can create a user and network namespace here (probed once)."""
    global _unshare_works
    if _unshare_works is None:
        binary = shutil.which("unshare")
        try:
            _unshare_works = bool(binary) and subprocess.run(
                [binary, "-rn", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10
            ).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _unshare_works = False
    return _unshare_works


def protections() -> dict:
    """Each protection a sandboxed run gets on this machine, and whether it is enforced."""
    try:
        import resource

        rlimits = hasattr(resource, "RLIMIT_AS") and hasattr(resource, "RLIMIT_CPU")
    except ImportError:
        rlimits = False
    net = network_isolation_available()
    return {
        "child_process": {"enforced": True, "how": "a separate python -I process in its own session"},
        "timeout": {"enforced": True, "how": "wall-clock deadline, then SIGKILL to the process group"},
        "memory_limit": {"enforced": rlimits, "how": "RLIMIT_AS" if rlimits else "setrlimit unavailable"},
        "cpu_limit": {"enforced": rlimits, "how": "RLIMIT_CPU" if rlimits else "setrlimit unavailable"},
        "scratch_directory": {"enforced": True, "how": "fresh temporary working directory, removed afterwards"},
        "scrubbed_environment": {"enforced": True, "how": "only PATH, HOME, TMPDIR and LANG are passed"},
        "no_network": {"enforced": net, "how": "unshare -rn (empty network namespace)" if net
                       else "unshare -rn is not permitted here: the program can reach the network"},
        "filesystem_isolation": {"enforced": False,
                                 "how": "not provided: the program can read and write what the user can"},
    }


def run_sandboxed(entry: str, args: Sequence[str], limits: Limits, *, capture: bool = False) -> Outcome:
    """Run ``entry`` (``module:function``) with ``args`` in a sandboxed child process."""
    scratch = tempfile.mkdtemp(prefix="pxos-sandbox-")
    result_path = os.path.join(scratch, ".pxos-result.json")
    spec = {
        "entry": entry, "args": list(args), "result": result_path,
        "path": [os.getcwd()] + [p for p in sys.path if p],
        "memory": limits.memory_mb * 1024 * 1024, "cpu": limits.cpu_seconds,
    }
    command = [sys.executable, "-I", "-c", _BOOT, json.dumps(spec)]
    isolated = not limits.network and network_isolation_available()
    if isolated:
        command = [shutil.which("unshare") or "unshare", "-rn", *command]
    env = {"PATH": os.defpath, "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    pipe = subprocess.PIPE if capture else None
    try:
        proc = subprocess.Popen(command, cwd=scratch, env=env, stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=limits.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        outcome = _read_outcome(result_path, proc.returncode, timed_out, limits)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if capture:
        outcome.stdout = (out or b"")[:_MAX_CAPTURE].decode("utf-8", "replace")
        outcome.stderr = (err or b"")[:_MAX_CAPTURE].decode("utf-8", "replace")
    outcome.protections = {"network": "isolated" if isolated else "allowed", "timeout": limits.timeout,
                           "memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds}
    return outcome


def _read_outcome(path: str, returncode: int, timed_out: bool, limits: Limits) -> Outcome:
    if timed_out:
        return Outcome("timeout", 124, error=f"killed after the {limits.timeout:g} s timeout")
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, ValueError):
        data = None
    if data is not None:
        return Outcome(data["status"], data["exit_code"], data.get("value"), data.get("error"))
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU):
        return Outcome("cpu", 137, error=f"killed: CPU limit of {limits.cpu_seconds} s exceeded (or killed)")
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        return Outcome("killed", 128 - returncode, error=f"killed by {name}")
    return Outcome("error", returncode or 1, error=f"the sandbox child exited with {returncode} before reporting")
