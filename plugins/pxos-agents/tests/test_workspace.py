"""A task's test command runs in the kernel sandbox: contained, bounded, refused without isolation."""

import os
import time
from pathlib import Path

import pytest

from pxos_agents.workspace import make_copy, run_tests
from pxos_kernel import SandboxUnavailable

HANGS = """
import subprocess, time
subprocess.Popen(["sleep", "3{token}"], start_new_session=True)  # setsid: outside the process group
print("started", flush=True)
time.sleep(300)
"""

PRIES = """
import os, sys
for secret in (sys.argv[1], os.path.join(sys.argv[1], "config.yaml")):
    try:
        open(secret).read()
    except OSError:
        continue
    sys.exit("read " + secret)
print("saw nothing")
"""


def _alive(token):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def test_a_hanging_test_command_is_killed_whole_and_the_coach_returns_on_time(pxos_kernel):
    token = str(time.time_ns())[-12:]
    copy = make_copy({"t.py": HANGS.format(token=token)}, {})
    started = time.monotonic()
    outcome = run_tests(pxos_kernel, copy, ["python", "t.py"], timeout=2)
    assert time.monotonic() - started < 8
    assert outcome.timed_out and not outcome.passed and "started" in outcome.output
    assert _alive(f"3{token}") == []


def test_a_test_command_sees_nothing_of_pxos_home(pxos_kernel):
    (pxos_kernel.home / "config.yaml").write_text("agents: {}\n")
    copy = make_copy({"t.py": PRIES}, {})
    outcome = run_tests(pxos_kernel, copy, ["python", "t.py", str(pxos_kernel.home)])
    assert outcome.passed and "saw nothing" in outcome.output, outcome.output
    assert outcome.network_isolated


def test_without_isolation_the_test_run_is_refused_unless_allowed(pxos_kernel, monkeypatch):
    monkeypatch.setenv("PXOS_SANDBOX_MECHANISM", "none")
    copy = make_copy({"t.py": "print('ran')"}, {})
    with pytest.raises(SandboxUnavailable, match="allow-unisolated"):
        run_tests(pxos_kernel, copy, ["python", "t.py"])
    assert run_tests(pxos_kernel, copy, ["python", "t.py"], allow_unisolated=True).passed
