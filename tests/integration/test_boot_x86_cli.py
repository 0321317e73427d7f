"""End to end: ``pxos-kernel boot build && pxos-kernel boot run --headless`` boots the pxOS shell.

The test drives the real command line in a child process. With ``--headless``
QEMU's human monitor is on stdin/stdout: the test types with ``sendkey`` and
reads the VGA text buffer at 0xB8000 with ``pmemsave``, polling until the
screen shows what it waits for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pxos_kernel.core import Kernel
from pxos_kernel.testing import require_system_package

pytest.importorskip("pxos_boot_x86")
from pxos_boot_x86.qemu import keys_for  # noqa: E402

CLI = [sys.executable, "-m", "pxos_kernel"]


class HeadlessRun:
    """``pxos-kernel boot run --headless`` with its monitor on our pipes."""

    def __init__(self, env: dict, screen_file: Path) -> None:
        self.screen_file = screen_file
        self.process = subprocess.Popen([*CLI, "boot", "run", "--headless"], env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def monitor(self, command: str) -> None:
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def type(self, text: str) -> None:
        for char in text:
            self.monitor("sendkey " + "-".join(keys_for(char)) + " 10")

    def rows(self) -> list[str]:
        self.screen_file.unlink(missing_ok=True)
        self.monitor(f'pmemsave 0xb8000 4000 "{self.screen_file}"')
        deadline = time.monotonic() + 5
        while not (self.screen_file.exists() and self.screen_file.stat().st_size == 4000):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no screen dump from QEMU: {self.process.stderr.read().decode()}")
            time.sleep(0.01)
        cells = self.screen_file.read_bytes()[0::2]
        return [cells[r * 80:(r + 1) * 80].decode("cp437").rstrip() for r in range(25)]

    def wait_for(self, condition, what: str) -> list[str]:
        deadline = time.monotonic() + 20
        while True:
            rows = self.rows()
            if condition(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n" + "\n".join(rows))
            time.sleep(0.05)

    def quit(self) -> int:
        self.monitor("quit")
        try:
            return self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def test_boot_build_then_run_boots_to_a_working_prompt(pxos_home, tmp_path):
    require_system_package("qemu-system-i386", "qemu-system-x86")
    env = {**os.environ, "PXOS_HOME": str(pxos_home)}
    built = subprocess.run([*CLI, "boot", "build", "--json"], env=env, capture_output=True, text=True, check=True)
    assert json.loads(built.stdout)["size"] == 512

    run = HeadlessRun(env, tmp_path / "screen.bin")
    try:
        rows = run.wait_for(lambda rows: rows[0] == "pxOS v1>", "the prompt")
        assert not any(rows[1:])
        run.type("echo It boots!\n")
        rows = run.wait_for(lambda rows: rows[2] == "pxOS v1>", "echo's output")
        assert rows[:3] == ["pxOS v1> echo It boots!", "It boots!", "pxOS v1>"]
    finally:
        assert run.quit() == 0

    kernel = Kernel(pxos_home)
    try:
        ops = [r["op"] for r in kernel.ledger.records() if r["type"] == "BOOT"]
    finally:
        kernel.close()
    assert ops == ["boot_build", "boot_run"]
