"""Every way a proposal can go wrong ends as a recorded failed experiment with one clear line.

Each test builds a proposal against the wordcount example and checks the
outcome: the stage it failed at, its reason, what was registered, that the
workspace (patched tree, archives, full test log) is kept, and the ledger.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from conftest import EXAMPLES
from pxos_kernel import Guardrail, Verdict, hookimpl
from pxos_genesis.evolve.build import build
from pxos_genesis.evolve.proposals import CorruptProposal, propose

CORE = (EXAMPLES / "wordcount" / "wordcount" / "core.py").read_text()
TESTS = (EXAMPLES / "wordcount" / "tests" / "test_core.py").read_text()
MANIFEST = (EXAMPLES / "wordcount" / "cartridge.yaml").read_text()


def diff(path: str, old: str, new: str, *, create: bool = False) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        "/dev/null" if create else f"a/{path}", f"b/{path}"))


def propose_patch(kernel, patch: str, **options) -> str:
    path = kernel.home / "proposal.patch"
    path.write_text(patch)
    record = propose(kernel, goal="a change", cartridge="wordcount", patch_file=str(path), reason="a reason",
                     author="alice", **options)
    return record["id"]


def configure(kernel, **genesis) -> None:
    (kernel.home / "config.yaml").write_text(yaml.safe_dump({"genesis": genesis}))
    kernel.__dict__.pop("config", None)  # re-read on next use


def registered(kernel) -> dict:
    from pxos_cartridge.registry import CartridgeRegistry

    return {r["version"]: r["status"] for r in CartridgeRegistry(kernel).list("wordcount")}


def assert_kept(kernel, result, stage: str, reason: str) -> dict:
    """The build failed at ``stage`` with ``reason`` in its one line, and everything was kept."""
    assert result.status == "failed" and result.stage == stage, (result.stage, result.reason)
    assert reason in result.reason and "\n" not in result.reason
    workspace = Path(result.workspace)
    assert result.kept and (workspace / "proposal.patch").is_file() and (workspace / "tree").is_dir()
    assert json.loads((workspace / "build.json").read_text())["reason"] == result.reason
    logged = kernel.ledger.find(result.ledger_id)
    assert logged["type"] == "EVOLVE" and logged["payload"]["status"] == "failed"
    assert logged["payload"]["reason"] == result.reason and logged["payload"]["proposal"] == result.proposal
    return logged["payload"]


@pytest.fixture
def wordcount(make_cartridge):
    return make_cartridge()


def test_a_malformed_diff_is_recorded_and_fails_at_the_patch(pxos_kernel, wordcount):
    proposal = propose_patch(pxos_kernel, "make it better, please\n")
    assert pxos_kernel.ledger.find(proposal)["payload"]["files"] == []  # recorded all the same
    result = build(pxos_kernel, proposal)
    assert_kept(pxos_kernel, result, "patch", "the patch changes no file: it is not a unified diff")
    assert not result.registered and registered(pxos_kernel) == {"1.0.0": "experimental"}


def test_a_patch_escaping_the_tree_is_kept_and_never_applied(pxos_kernel, wordcount, tmp_path):
    outside = tmp_path / "escaped.py"
    proposal = propose_patch(pxos_kernel, diff(f"../../../../../../../..{outside}", "", "x = 1\n", create=True))
    result = build(pxos_kernel, proposal)
    assert_kept(pxos_kernel, result, "patch", "leaves the cartridge tree")
    assert not outside.exists()


def test_a_patch_that_does_not_apply(pxos_kernel, wordcount):
    patch = diff("wordcount/core.py", CORE.replace("if not text:", "if text is None:"), CORE.replace(
        "if not text:", "if text == '':"))
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert_kept(pxos_kernel, result, "patch", "the patch does not apply")


def test_a_patch_against_a_file_the_cartridge_does_not_have(pxos_kernel, wordcount):
    result = build(pxos_kernel, propose_patch(pxos_kernel, diff("wordcount/missing.py", "a = 1\n", "a = 2\n")))
    assert_kept(pxos_kernel, result, "patch", "the patch changes wordcount/missing.py, which is not in "
                                              "wordcount@1.0.0")


def test_broken_yaml_is_a_failed_experiment_not_a_scanner_traceback(pxos_kernel, wordcount):
    patch = diff("cartridge.yaml", MANIFEST, MANIFEST.replace("capabilities: [stdout]", "capabilities: [stdout"))
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert_kept(pxos_kernel, result, "syntax", "cartridge.yaml: not valid YAML at line")
    assert "capabilities: [stdout\n" in (Path(result.workspace) / "tree" / "cartridge.yaml").read_text()


def test_a_manifest_that_parses_but_does_not_load(pxos_kernel, wordcount):
    patch = diff("cartridge.yaml", MANIFEST, MANIFEST + "colour: blue\n")
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert_kept(pxos_kernel, result, "manifest", "unknown key(s) colour")


def test_a_syntax_error_names_the_file_and_line(pxos_kernel, wordcount):
    patch = diff("wordcount/core.py", CORE, CORE.replace("return len(text.split(\" \"))", "return len(text.split(\" \")"))
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert_kept(pxos_kernel, result, "syntax", "wordcount/core.py: Python syntax error at line")
    assert "text.split(\" \")\n" in (Path(result.workspace) / "tree" / "wordcount" / "core.py").read_text()


def test_an_import_error_is_a_failed_experiment_with_the_archive_and_the_real_output(pxos_kernel, wordcount):
    patch = diff("wordcount/core.py", CORE, CORE.replace("from collections import Counter",
                                                         "from collections import Counter, Tally"))
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    payload = assert_kept(pxos_kernel, result, "tests", "cannot import name 'Tally'")
    assert result.registered and registered(pxos_kernel)[result.version] == "failed"  # the failing code, in pixels
    assert "ImportError" in (Path(result.workspace) / "tests.log").read_text()
    assert "Tally" in payload["tests"]["output"]


def test_failing_tests_are_registered_failed_with_pytest_s_own_words(pxos_kernel, wordcount):
    patch = (EXAMPLES / "patches" / "break.patch").read_text()
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert_kept(pxos_kernel, result, "tests", "tests failed (1 failed, 2 passed; exit code 1)")
    assert "assert 24 == 5" in result.reason
    from pxos_cartridge.registry import CartridgeRegistry

    record = CartridgeRegistry(pxos_kernel).get("wordcount", result.version)
    assert record["status"] == "failed" and "assert 24 == 5" in record["tests"]["output"]
    assert (Path(result.workspace) / f"wordcount-{result.version}.pxa").is_file()


def test_a_test_run_past_the_build_timeout(pxos_kernel, wordcount):
    configure(pxos_kernel, build_timeout=8)
    patch = diff("tests/test_core.py", TESTS, TESTS + "\n\ndef test_slow():\n    import time\n    time.sleep(60)\n")
    started = time.monotonic()
    result = build(pxos_kernel, propose_patch(pxos_kernel, patch))
    assert time.monotonic() - started < 30
    assert_kept(pxos_kernel, result, "tests", "tests timed out")


def test_a_failed_guardrail_is_the_reason(pxos_kernel, wordcount):
    result = build(pxos_kernel, propose_patch(pxos_kernel, (EXAMPLES / "patches" / "network.patch").read_text()))
    assert result.tests["passed"]  # its tests pass: only Genesis catches it
    assert_kept(pxos_kernel, result, "guardrails", "guardrail G8.1 failed: ")
    assert registered(pxos_kernel)[result.version] == "failed"


def test_an_unknown_parent_version(pxos_kernel, wordcount, pxos_cli):
    (pxos_kernel.home / "p.patch").write_text((EXAMPLES / "patches" / "improve.patch").read_text())
    code, out, err = pxos_cli("evolve", "propose", "--cartridge", "wordcount", "--parent", "9.9", "--goal", "g",
                              "--patch", str(pxos_kernel.home / "p.patch"), "--reason", "r")
    assert code == 1 and err.strip() == ("pxos-kernel: error: unknown parent version wordcount@9.9 "
                                         "(registered: 1.0.0)")
    # a proposal whose parent is not (or no longer) registered fails at the parent stage
    record = pxos_kernel.ledger.find(propose_patch(pxos_kernel, "x"))
    forged = pxos_kernel.checkpoint("PROPOSAL", "evolve_propose", {**record["payload"], "parent": "7.7"})
    result = build(pxos_kernel, forged["id"])
    assert result.status == "failed" and result.stage == "parent"
    assert result.reason == "unknown parent version wordcount@7.7 (registered: 1.0.0)"


def test_disk_full_while_packing_registers_nothing(pxos_kernel, wordcount):
    def fill_the_disk(candidate, context):
        # Runs between the tests and the final pack: the final archive's path becomes /dev/full.
        archive = Path(candidate.archive_path)
        os.symlink("/dev/full", archive.parent / f"wordcount-{candidate.version}.pxa")
        return Verdict("passed", "made the disk full")

    plugin = types.SimpleNamespace(pxos_guardrails=hookimpl(lambda: Guardrail("T.disk", fill_the_disk, "x")))
    pxos_kernel.plugins.register(plugin, "disk-filler")
    result = build(pxos_kernel, propose_patch(pxos_kernel, (EXAMPLES / "patches" / "improve.patch").read_text()))
    assert_kept(pxos_kernel, result, "compliance", f"disk full while packing wordcount-{result.version}.pxa "
                                                   "(No space left on device); no partial archive was registered")
    assert not result.registered and registered(pxos_kernel) == {"1.0.0": "experimental"}
    assert not (Path(result.workspace) / f"wordcount-{result.version}.pxa").exists()  # the link is gone
    assert (Path(result.workspace) / "candidate.pxa").is_file() and Path("/dev/full").exists()


def test_a_corrupt_proposal_record_gets_one_line(pxos_kernel, wordcount, pxos_cli):
    record = pxos_kernel.ledger.find(propose_patch(pxos_kernel, "x"))
    payload = {k: v for k, v in record["payload"].items() if k != "patch"}
    bad = pxos_kernel.checkpoint("PROPOSAL", "evolve_propose", payload)["id"]
    with pytest.raises(CorruptProposal, match="patch is missing"):
        build(pxos_kernel, bad)
    code, out, err = pxos_cli("evolve", "build", bad)
    assert code == 1 and err == (f"pxos-kernel: error: proposal {bad} is corrupt: patch is missing or not a string "
                                 "(the ledger keeps it as it is; it cannot be built)\n")
    tampered = pxos_kernel.checkpoint("PROPOSAL", "evolve_propose", {**record["payload"], "patch": "y"})["id"]
    code, out, err = pxos_cli("evolve", "show", tampered)
    assert code == 1 and "does not match the patch_sha256" in err and err.count("\n") == 1
    code, out, err = pxos_cli("evolve", "list", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and rows[bad]["status"] == "corrupt" and rows[record["id"]]["status"] == "proposed"


def test_the_compliance_file_is_packed_whatever_the_include_list(pxos_kernel, make_cartridge):
    def only_code(tree):
        (tree / "cartridge.yaml").write_text(MANIFEST + "include: [cartridge.yaml, wordcount, tests]\n")

    make_cartridge(edit=only_code)
    result = build(pxos_kernel, propose_patch(pxos_kernel, (EXAMPLES / "patches" / "improve.patch").read_text()))
    assert result.status == "experimental", result.reason
    from pxos_cartridge.archive import open_archive
    from pxos_cartridge.registry import CartridgeRegistry

    archive = open_archive(CartridgeRegistry(pxos_kernel).archive_path("wordcount", result.version))
    assert "GENESIS_COMPLIANCE.md" in archive.names() and "| G6.4 |" in archive.read("GENESIS_COMPLIANCE.md").decode()
    assert "version: 1.0.1" in archive.read("cartridge.yaml").decode()
    created = diff("notes/extra.txt", "", "left out\n", create=True)
    result = build(pxos_kernel, propose_patch(pxos_kernel, created, parent="1.0.0"))
    assert_kept(pxos_kernel, result, "manifest", "creates notes/extra.txt, which the manifest's include/exclude "
                                                 "lists leave out")


def _cli(home: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PXOS_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "pxos_kernel", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_sigterm_during_a_build_records_it_interrupted_and_keeps_the_workspace(pxos_kernel, wordcount):
    patch = diff("tests/test_core.py", TESTS, TESTS + "\n\ndef test_slow():\n    import time\n    time.sleep(15)\n")
    proposal = propose_patch(pxos_kernel, patch)
    process = _cli(pxos_kernel.home, "evolve", "build", proposal, "--json")
    workspaces = pxos_kernel.home / "genesis" / "workspaces"
    deadline = time.monotonic() + 60
    while not list(workspaces.glob("*/tests.log")) and not list(workspaces.glob("*/candidate.pxa")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)  # the sandboxed tests are running now
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "interrupted" and result["stage"] == "tests"
    assert result["reason"].startswith("interrupted by SIGTERM during tests; the workspace is kept at ")
    assert Path(result["workspace"], "tree", "tests", "test_core.py").read_text().endswith("time.sleep(15)\n")
    assert pxos_kernel.ledger.find(result["ledger_id"])["payload"]["status"] == "interrupted"


def test_two_builds_of_one_parent_at_once_are_both_kept_apart(pxos_kernel, wordcount):
    improve = propose_patch(pxos_kernel, (EXAMPLES / "patches" / "improve.patch").read_text())
    broken = propose_patch(pxos_kernel, (EXAMPLES / "patches" / "break.patch").read_text())
    processes = [_cli(pxos_kernel.home, "evolve", "build", p, "--json") for p in (improve, broken)]
    results = [json.loads(p.communicate(timeout=240)[0]) for p in processes]
    assert [r["status"] for r in results] == ["experimental", "failed"]
    assert {r["version"] for r in results} == {"1.0.1", "1.0.2"} and results[0]["workspace"] != results[1]["workspace"]
    assert registered(pxos_kernel) == {"1.0.0": "experimental", results[0]["version"]: "experimental",
                                       results[1]["version"]: "failed"}
    assert Path(results[1]["workspace"], "tests.log").is_file()  # the failed one keeps its workspace
