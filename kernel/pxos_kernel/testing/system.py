"""Installing the system tools a test needs (Debian packages), once per machine."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile

_UPDATED = os.path.join(tempfile.gettempdir(), "pxos-apt-updated")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_system_package(binary: str, package: str) -> str:
    """Return the path of ``binary``, installing Debian ``package`` with apt-get if needed.

    ``binary`` is a command looked up on ``PATH``, or an absolute path of a file
    the package installs (for packages without a command, e.g. a driver).
    Runs ``apt-get update`` once per machine first. When the tool truly cannot be
    had, the test is skipped with the reason, except under CI (``CI=true``),
    where that is a failure: CI must never skip these tests.
    """
    import pytest

    found = _find(binary)
    if found:
        return found
    problem = _apt_install(package)
    found = _find(binary)
    if found:
        return found
    reason = f"{binary} (Debian package {package}) is not installed and could not be installed: {problem}"
    if _in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _find(binary: str) -> "str | None":
    if os.path.isabs(binary):
        return binary if os.path.exists(binary) else None
    return shutil.which(binary)


def _apt_install(package: str) -> str:
    apt = shutil.which("apt-get")
    if not apt:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing needs root (run: sudo apt-get install " + package + ")"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(_UPDATED + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one apt at a time, even across pytest workers
        if not os.path.exists(_UPDATED):
            update = subprocess.run([apt, "update"], env=env, capture_output=True, text=True)
            if update.returncode != 0:
                return "apt-get update failed: " + (update.stderr.strip().splitlines() or ["?"])[-1]
            open(_UPDATED, "w").close()
        done = subprocess.run([apt, "install", "-y", "--no-install-recommends", package], env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return "apt-get install failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return ""


def require_sandbox(mechanism: str = "auto") -> str:
    """Make sure sandboxed runs get filesystem isolation here; return the mechanism that gives it.

    Installs bubblewrap first where it is missing (as :func:`require_system_package`
    does). ``mechanism`` insists on one (``"bubblewrap"`` or ``"landlock"``).
    A test that cannot have it is skipped with the reason, and fails under CI.
    """
    import pytest

    from pxos_kernel import sandbox

    problem = ""
    if mechanism in ("auto", "bubblewrap") and not shutil.which("bwrap"):
        problem = _apt_install("bubblewrap")
    sandbox.forget_probes()
    try:
        chosen, why = sandbox.mechanism(mechanism)
    except Exception as exc:
        chosen, why = "none", str(exc)
    if chosen != "none":
        return chosen
    reason = f"no sandbox filesystem isolation here: {why}" + (f" ({problem})" if problem else "")
    if _in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
