"""The cartridge registry: records, real sandboxed tests, promotion, rollback, locking, corruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pxos_kernel import Guardrail, NotFoundError, Verdict, Violation, hookimpl

from pxos_cartridge.archive import pack_tree
from pxos_cartridge.errors import PromotionRefused, RegistryCorruptError, RegistryError
from pxos_cartridge.registry import CartridgeRegistry


def build(tree: Path, out: Path, version: str, *, failing: bool = False, breaking: bool = False) -> Path:
    """Pack the greeter tree as ``version`` (optionally with a failing test, or marked breaking)."""
    manifest = (tree / "cartridge.yaml").read_text()
    manifest = manifest.replace("version: 1.0.0", f"version: {version}")
    if breaking:
        manifest += "breaking: true\n"
    (tree / "cartridge.yaml").write_text(manifest)
    test = tree / "tests" / "test_greeter.py"
    source = test.read_text()
    if failing:
        test.write_text(source + "\n\ndef test_broken():\n    assert greeting() == 'Goodbye'\n")
    try:
        pack_tree(tree, out)
    finally:
        test.write_text(source)
        (tree / "cartridge.yaml").write_text(manifest.replace(f"version: {version}", "version: 1.0.0")
                                             .replace("breaking: true\n", ""))
    return out


@pytest.fixture
def registry(kernel):
    return CartridgeRegistry(kernel)


@pytest.fixture
def v1(greeter_tree, tmp_path):
    return build(greeter_tree, tmp_path / "v1.pxa", "1.0.0")


def _ledger(kernel, op=None):
    return [r for r in kernel.ledger.records() if r["type"] == "CARTRIDGE" and op in (None, r["op"])]


def test_register_records_everything(registry, kernel, v1, greeter_tree, tmp_path):
    record = registry.register(v1, builder={"kind": "llm", "who": "pixellm-local"}, notes="first cut")
    assert record["name"] == "greeter" and record["version"] == "1.0.0" and record["status"] == "experimental"
    assert record["parent"] is None and record["generation"] == 0 and record["tests"] is None
    assert record["builder"] == {"kind": "llm", "who": "pixellm-local"} and record["notes"] == "first cut"
    assert record["capabilities"] == ["stdout"] and record["breaking"] is False and record["created"].endswith("Z")
    import hashlib

    assert record["sha256"] == hashlib.sha256(v1.read_bytes()).hexdigest()
    stored = registry.archive_path("greeter")
    assert stored.read_bytes() == v1.read_bytes() and stored.name == f"{record['sha256']}.pxa"
    assert registry.get("greeter@1.0.0") == record == registry.get("greeter", "1.0.0")
    second = registry.register(build(greeter_tree, tmp_path / "v2.pxa", "2.0.0"))
    assert second["parent"] == "1.0.0" and second["generation"] == 1
    assert [r["version"] for r in registry.lineage("greeter@2.0.0")] == ["1.0.0", "2.0.0"]
    assert [r["version"] for r in registry.list()] == ["1.0.0", "2.0.0"]
    assert [h["action"] for h in registry.history("greeter")] == ["register", "register"]
    assert len(_ledger(kernel, "register")) == 2


def test_archives_are_content_addressed_and_versions_never_replaced(registry, v1):
    registry.register(v1)
    registry.register(v1, version="1.0.0-again")
    objects = list(registry.objects.rglob("*.pxa"))
    assert len(objects) == 1  # one file for the same bytes
    with pytest.raises(RegistryError, match="greeter@1.0.0 is already registered"):
        registry.register(v1)
    with pytest.raises(RegistryError, match="builder"):
        registry.register(v1, version="x", builder={"kind": "robot", "who": "r2"})
    with pytest.raises(RegistryError, match="parent greeter@9 is not registered"):
        registry.register(v1, version="y", parent="9")
    with pytest.raises(NotFoundError, match="no cartridge named 'nope'"):
        registry.get("nope")


def test_passing_tests_run_in_the_sandbox_and_are_stored(registry, kernel, v1):
    registry.register(v1)
    record = registry.test("greeter@1.0.0")
    tests = record["tests"]
    assert tests["passed"] is True and tests["exit_code"] == 0 and tests["counts"] == {"passed": 2}
    assert record["status"] == "experimental"
    run = kernel.ledger.find(tests["run_id"])  # the real sandboxed run is in the ledger
    assert run["payload"]["sandbox"] is True and run["payload"]["status"] == "ok"
    assert tests["guardrails"]["counts"] == {"passed": 0, "failed": 0, "unchecked": 0}
    assert "2 passed" in tests["output"]
    assert registry.get("greeter")["tests"] == tests  # stored, not only returned


def test_results_of_a_run_made_elsewhere_are_stored_only_for_the_same_bytes(registry, kernel, v1):
    record = registry.register(v1)
    results = {"passed": False, "status": "failed", "exit_code": 1, "run_id": "ATOM-RUN-1", "counts": {"failed": 1},
               "guardrails": {"counts": {"passed": 3, "failed": 0, "unchecked": 0}}}
    with pytest.raises(RegistryError, match="other archive bytes"):
        registry.record_tests("greeter@1.0.0", None, {**results, "sha256": "0" * 64})
    with pytest.raises(RegistryError, match="lack run_id"):
        registry.record_tests("greeter@1.0.0", None, {k: v for k, v in results.items() if k != "run_id"})
    stored = registry.record_tests("greeter@1.0.0", None, {**results, "sha256": record["sha256"]})
    assert stored["status"] == "failed" and stored["tests"]["run_id"] == "ATOM-RUN-1"
    assert registry.history()[-1]["action"] == "test" and registry.history()[-1]["outcome"] == "failed"


def test_failing_tests_make_a_cartridge_unpromotable(registry, kernel, greeter_tree, tmp_path):
    registry.register(build(greeter_tree, tmp_path / "bad.pxa", "1.1.0", failing=True))
    record = registry.test("greeter@1.1.0")
    assert record["status"] == "failed" and record["tests"]["passed"] is False
    assert record["tests"]["counts"] == {"failed": 1, "passed": 2} and record["tests"]["exit_code"] == 1
    with pytest.raises(PromotionRefused, match=r"its tests ended failed with exit code 1 \(1 failed, 2 passed\); "
                       r"its output ends: .*1 failed, 2 passed"):
        registry.promote("greeter@1.1.0", approved_by="alice", reason="ship it")
    assert registry.get("greeter")["status"] == "failed"
    refused = registry.history()[-1]
    assert refused["action"] == "promote" and refused["outcome"] == "refused" and refused["reason"] == "ship it"
    assert kernel.ledger.find(refused["ledger_id"])["payload"]["outcome"] == "refused"


def test_a_custom_test_command_from_the_manifest(registry, greeter_tree, tmp_path):
    (greeter_tree / "cartridge.yaml").write_text(
        (greeter_tree / "cartridge.yaml").read_text()
        + "tests:\n  command: [python, -c, \"import greeter, sys; sys.exit(0 if greeter.greeting() else 3)\"]\n")
    pack_tree(greeter_tree, tmp_path / "c.pxa")
    registry.register(tmp_path / "c.pxa")
    tests = registry.test("greeter")["tests"]
    assert tests["passed"] and tests["command"][0] == "python"


def test_promotion_needs_tests_and_breaking_needs_a_human(registry, greeter_tree, tmp_path):
    registry.register(build(greeter_tree, tmp_path / "b.pxa", "3.0.0", breaking=True))
    with pytest.raises(PromotionRefused, match="never been tested"):
        registry.promote("greeter@3.0.0", approved_by="alice", reason="r")
    registry.test("greeter@3.0.0")
    with pytest.raises(PromotionRefused, match="breaking change, which needs a human"):
        registry.promote("greeter@3.0.0", approved_by="gpt", reason="r", approver_kind="llm")
    with pytest.raises(RegistryError, match="needs an approver"):
        registry.promote("greeter@3.0.0", approved_by="", reason="r")
    with pytest.raises(PromotionRefused, match="which a human accepts only with --breaking-ok"):
        registry.promote("greeter@3.0.0", approved_by="alice", reason="r")
    record = registry.promote("greeter@3.0.0", approved_by="alice", reason="reviewed the break", breaking_ok=True)
    assert record["status"] == "current" and record["promoted"]["by"] == "alice"
    outcomes = [(h["action"], h["outcome"]) for h in registry.history()]
    assert outcomes.count(("promote", "refused")) == 3 and outcomes[-1] == ("promote", "done")


def test_a_failing_guardrail_blocks_promotion(registry, kernel, v1):
    class Rails:
        @hookimpl
        def pxos_guardrails(self):
            def check(subject, context):
                if context.get("version") == "1.0.0":
                    return Verdict("failed", "1.0.0 is blocked",
                                   (Violation("no-1.0", "version 1.0.0 is not allowed"),))
                return Verdict("passed", "fine")

            return Guardrail("no-1.0", check, "blocks version 1.0.0", principle="G6")

    kernel.plugins.register(Rails(), "test-rails")
    registry.register(v1)
    tests = registry.test("greeter")["tests"]
    assert tests["exit_code"] == 0 and tests["passed"] is False
    assert tests["guardrails"]["items"][0]["violations"] == ["version 1.0.0 is not allowed"]
    # The refusal names the guardrail and its violation, not "tests did not pass (ok, exit code 0)".
    with pytest.raises(PromotionRefused, match=r"refused: its last test run failed: guardrail no-1.0 failed: "
                                               r"version 1.0.0 is not allowed$"):
        registry.promote("greeter@1.0.0", approved_by="alice", reason="r")


def test_promote_then_rollback_through_the_same_checks(registry, kernel, v1, greeter_tree, tmp_path):
    registry.register(v1)
    registry.register(build(greeter_tree, tmp_path / "v2.pxa", "2.0.0"))
    registry.register(build(greeter_tree, tmp_path / "v3.pxa", "3.0.0", failing=True))
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        registry.test("greeter", version)
    registry.promote("greeter@1.0.0", approved_by="alice", reason="first")
    registry.promote("greeter@2.0.0", approved_by="alice", reason="second")
    assert registry.get("greeter@1.0.0")["status"] == "superseded"
    with pytest.raises(PromotionRefused, match="its tests ended failed"):
        registry.rollback("greeter", "3.0.0", approved_by="alice", reason="try the failed one")
    record = registry.rollback("greeter", approved_by="bob", reason="2.0.0 greets wrongly in prod")
    assert record["version"] == "1.0.0" and record["status"] == "current"
    assert record["promoted"]["action"] == "rollback" and record["promoted"]["replaced"] == "2.0.0"
    assert registry.get("greeter@2.0.0")["status"] == "superseded"
    assert registry.current("greeter")["version"] == "1.0.0"
    last = registry.history()[-1]
    assert (last["action"], last["outcome"], last["reason"]) == ("rollback", "done", "2.0.0 greets wrongly in prod")
    ops = [r["op"] for r in _ledger(kernel)]
    assert ops.count("promote") == 2 and ops.count("rollback") == 2 and ops.count("test") == 3
    with pytest.raises(PromotionRefused, match="already the current"):
        registry.promote("greeter@1.0.0", approved_by="alice", reason="again")


def test_rollback_without_a_current_version_is_an_error(registry, v1):
    registry.register(v1)
    with pytest.raises(RegistryError, match="no current version"):
        registry.rollback("greeter", approved_by="alice", reason="r")


def test_a_tampered_stored_archive_blocks_promotion(registry, v1):
    registry.register(v1)
    registry.test("greeter")
    stored = registry.archive_path("greeter")
    os.chmod(stored, 0o644)
    stored.write_bytes(stored.read_bytes() + b"tail")
    with pytest.raises(PromotionRefused, match="no longer matches its sha256"):
        registry.promote("greeter@1.0.0", approved_by="alice", reason="r")


def test_a_corrupted_registry_is_refused_and_left_untouched(registry, v1, cli):
    registry.register(v1)
    damaged = registry.path.read_text()[:-40]
    registry.path.write_text(damaged)
    with pytest.raises(RegistryCorruptError, match="is corrupt"):
        registry.list()
    with pytest.raises(RegistryCorruptError):
        registry.register(v1, version="9.9.9")
    code, _, err = cli("cartridge", "list")
    assert code != 0 and "is corrupt" in err and err.count("\n") == 1
    assert registry.path.read_text() == damaged


def _mangle_greeter(data, change):
    entry = data["cartridges"]["greeter"]
    if change == "version":
        entry["versions"]["1.0.0"] = "x"
    elif change == "field":
        del entry["versions"]["1.0.0"]["sha256"]
    elif change == "generation":
        entry["versions"]["1.0.0"]["generation"] = "0"
    else:
        entry["current"] = "9.9"


@pytest.mark.parametrize("change, problem", [
    ("version", "greeter@1.0.0 is str, not a version record"), ("field", "greeter@1.0.0 has no sha256 (str)"),
    ("generation", "greeter@1.0.0 has no generation (int)"),
    ("current", "greeter's current version '9.9' is not registered")])
def test_a_registry_whose_inner_structure_is_wrong_is_one_line_and_left_untouched(registry, v1, cli, change,
                                                                                  problem):
    registry.register(v1)
    data = json.loads(registry.path.read_text())
    _mangle_greeter(data, change)
    registry.path.write_text(json.dumps(data))
    before = registry.path.read_bytes()
    for argv in (("cartridge", "list"), ("cartridge", "lineage", "greeter@1.0.0"), ("cartridge", "register", str(v1),
                                                                                     "--version", "2.0.0")):
        code, _, err = cli(*argv)
        assert code == 1 and err == (f"pxos-kernel: error: cartridge registry {registry.path} is corrupt ({problem}); "
                                     "it was left untouched: restore it from a backup or move it aside\n"), argv
    assert registry.path.read_bytes() == before


CONCURRENT = textwrap.dedent("""
    import sys, time
    from pxos_kernel import Kernel
    from pxos_cartridge.registry import CartridgeRegistry
    home, version, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    kernel = Kernel(home)
    registry = CartridgeRegistry(kernel)
    while time.time() < start:
        time.sleep(0.001)
    registry.promote("greeter", version, approved_by="proc-" + version, reason="race")
    kernel.close()
""")


def test_two_processes_promoting_at_once_leave_a_consistent_registry(registry, kernel, v1, greeter_tree,
                                                                      tmp_path):
    registry.register(v1)
    registry.register(build(greeter_tree, tmp_path / "v2.pxa", "2.0.0"))
    registry.test("greeter", "1.0.0")
    registry.test("greeter", "2.0.0")
    start = time.time() + 1.5
    env = {**os.environ, "PXOS_PLUGINS": "cartridge"}
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(kernel.home), version, str(start)], env=env,
                              stderr=subprocess.PIPE, text=True) for version in ("1.0.0", "2.0.0")]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    records = registry.list("greeter")
    assert sorted(r["status"] for r in records) == ["current", "superseded"]
    promotions = [h for h in registry.history() if h["action"] == "promote"]
    assert sorted(h["by"] for h in promotions) == ["human:proc-1.0.0", "human:proc-2.0.0"]
    assert all(h["outcome"] == "done" for h in promotions)
    winner = registry.current("greeter")["version"]
    assert winner == promotions[-1]["version"]  # the last promotion in the history is the current one
    assert kernel.ledger.verify().ok


PRYING_TEST = '''
import glob, os, pytest

@pytest.mark.parametrize("secret", ["{home}/cartridges/registry.json", "{home}/config.yaml"])
def test_cannot_read_pxos_home(secret):
    with pytest.raises(OSError):
        open(secret).read()

def test_cannot_list_pxos_home():
    try:
        assert os.listdir("{home}") == []
    except OSError:
        pass

def test_cannot_reach_any_archive():
    assert glob.glob("{home}/cartridges/objects/*/*.pxa") == []
'''

HANGING_TEST = '''
import subprocess, time

def test_leaves_a_grandchild_holding_the_pipe_and_hangs():
    subprocess.Popen(["sleep", "3{token}"], start_new_session=True)
    time.sleep(300)
'''


def test_a_prying_cartridge_test_sees_nothing_of_pxos_home(registry, kernel, greeter_tree, tmp_path):
    (kernel.home / "config.yaml").write_text("sandbox:\n  timeout: 60\n")
    (greeter_tree / "tests" / "test_prying.py").write_text(PRYING_TEST.format(home=kernel.home))
    pack_tree(greeter_tree, tmp_path / "prying.pxa")
    registry.register(tmp_path / "prying.pxa")
    tests = registry.test("greeter")["tests"]
    assert tests["passed"] and tests["counts"] == {"passed": 6}, tests["output"]


def test_a_hanging_cartridge_test_is_killed_whole_at_the_timeout(registry, kernel, greeter_tree, tmp_path):
    token = str(time.time_ns())[-12:]
    (greeter_tree / "tests" / "test_hanging.py").write_text(HANGING_TEST.format(token=token))
    pack_tree(greeter_tree, tmp_path / "hanging.pxa")
    registry.register(tmp_path / "hanging.pxa")
    started = time.monotonic()
    record = registry.test("greeter", timeout=4)
    took = time.monotonic() - started
    tests = record["tests"]
    assert tests["status"] == "timeout" and not tests["passed"] and record["status"] == "failed"
    assert took < 15, f"cartridge test took {took:.0f} s for a 4 s timeout"
    assert [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, f"3{token}")] == []
    run = kernel.ledger.find(tests["run_id"])
    assert run["payload"]["status"] == "timeout" and run["payload"]["protections"]["filesystem"] != "none"


def _cmdline_has(pid: str, token: str) -> bool:
    try:
        return token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_cartridge_test_refuses_without_isolation_unless_allowed(cli, registry, v1, monkeypatch):
    registry.register(v1)
    monkeypatch.setenv("PXOS_SANDBOX_MECHANISM", "none")
    code, out, err = cli("cartridge", "test", "greeter")
    assert code == 3 and "--allow-unisolated" in err and err.count("\n") == 1
    code, out, err = cli("cartridge", "test", "greeter", "--allow-unisolated", "--json")
    assert code == 0, err
    assert json.loads(out)["tests"]["sandbox"]["allow_unisolated"] is True
