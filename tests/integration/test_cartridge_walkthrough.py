"""The pxos-cartridge README walk-through, run with the real ``pxos-kernel`` command and every installed plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pxos_cartridge")

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "pxos-cartridge" / "examples" / "greeter"


def _cli(home: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PXOS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_pack_run_test_promote_rollback(tmp_path):
    home, tree = tmp_path / "home", tmp_path / "greeter"
    shutil.copytree(EXAMPLE, tree, ignore=shutil.ignore_patterns("__pycache__"))
    ok = lambda *argv: _cli(home, tmp_path, *argv)  # noqa: E731

    assert ok("cartridge", "pack", str(tree), "-o", "greeter-1.pxa").returncode == 0
    again = ok("cartridge", "pack", str(tree), "-o", "again.pxa")
    assert again.returncode == 0
    assert (tmp_path / "greeter-1.pxa").read_bytes() == (tmp_path / "again.pxa").read_bytes()

    run = ok("run", "greet", "--cartridge", "./greeter-1.pxa", "--json", "--", "Ada")
    assert run.returncode == 0, run.stderr
    greeting, _, result = run.stdout.partition("{")  # the sandboxed child prints first, then the JSON result
    assert "Hello, Ada, from a pixel archive!" in greeting and json.loads("{" + result)["sandboxed"] is True

    assert ok("cartridge", "register", "greeter-1.pxa", "--notes", "first release of the greeter example"
              ).returncode == 0
    tested = ok("cartridge", "test", "greeter", "--json")
    record = json.loads(tested.stdout)
    # Every installed guardrail (pxos-genesis's, when present) judges the cartridge too.
    assert record["tests"]["exit_code"] == 0 and record["tests"]["counts"] == {"passed": 2}, tested.stderr
    failed = [i for i in record["tests"]["guardrails"]["items"] if i["status"] == "failed"]
    assert record["tests"]["passed"] and not failed, failed
    promoted = ok("cartridge", "promote", "greeter@1.0.0", "--approved-by", "alice", "--reason", "first release")
    assert promoted.returncode == 0, promoted.stderr

    run = ok("run", "greet", "--cartridge", "greeter", "--", "Ada")
    assert run.returncode == 0 and "Hello, Ada, from a pixel archive!" in run.stdout

    (tree / "greeter" / "data" / "greeting.txt").write_text("Hi {names}!\n")
    (tree / "cartridge.yaml").write_text((tree / "cartridge.yaml").read_text().replace("1.0.0", "1.1.0"))
    assert ok("cartridge", "pack", str(tree), "-o", "greeter-2.pxa").returncode == 0
    assert ok("cartridge", "register", "greeter-2.pxa", "--notes", "shorter greeting").returncode == 0
    failed = ok("cartridge", "test", "greeter@1.1.0")
    assert failed.returncode == 1  # its own tests still expect the old greeting
    refused = ok("cartridge", "promote", "greeter@1.1.0", "--approved-by", "alice", "--reason", "try")
    assert refused.returncode != 0 and "its last test run failed" in refused.stderr and "2 failed" in refused.stderr

    lineage = json.loads(ok("cartridge", "lineage", "greeter@1.1.0", "--json").stdout)
    assert [r["version"] for r in lineage] == ["1.0.0", "1.1.0"]
    history = json.loads(ok("cartridge", "history", "--json").stdout)
    assert [(h["action"], h["outcome"]) for h in history][-2:] == [("test", "failed"), ("promote", "refused")]
    verify = ok("ledger", "verify")
    assert verify.returncode == 0, verify.stderr
