"""``run PROGRAM --cartridge NAME``: current cartridges in-process, everything else sandboxed; the CLI."""

from __future__ import annotations

import json

import pytest
from pxos_kernel import NotFoundError

from pxos_cartridge.archive import pack_tree
from pxos_cartridge.registry import CartridgeRegistry


@pytest.fixture
def registered(kernel, greeter_tree, tmp_path, clean_modules):
    pack_tree(greeter_tree, tmp_path / "g.pxa")
    registry = CartridgeRegistry(kernel)
    registry.register(tmp_path / "g.pxa")
    return registry


def test_a_cartridge_that_is_not_current_runs_sandboxed(kernel, registered):
    result = kernel.hypervisor.run_program("greet", ["Ada"], cartridge="greeter", capture=True)
    assert result.status == "ok" and result.sandboxed
    assert result.stdout.strip() == "Hello, Ada, from a pixel archive!"
    pre = kernel.ledger.find(result.pre_id)
    assert pre["payload"]["cartridge"] == "greeter" and pre["payload"]["sandbox"] is True


def test_an_experimental_cartridge_refuses_to_run_without_isolation_unless_allowed(cli, kernel, greeter_tree,
                                                                                    tmp_path, monkeypatch):
    pack_tree(greeter_tree, tmp_path / "g.pxa")
    CartridgeRegistry(kernel).register(tmp_path / "g.pxa")  # experimental: it may only run sandboxed
    monkeypatch.setenv("PXOS_SANDBOX_MECHANISM", "none")
    code, out, err = cli("run", "greet", "--cartridge", "greeter")
    assert code == 3 and "without filesystem isolation" in err and "--allow-unisolated" in err
    assert err.count("\n") == 1
    code, out, err = cli("run", "greet", "--cartridge", "greeter", "--allow-unisolated", "--json")
    assert code == 0 and json.loads(out[out.index("{"):])["protections"]["filesystem"] == "none"
    pre = [r for r in kernel.ledger.records() if r["corridor"].endswith("NODE_PRE")][-1]
    assert pre["payload"]["allow_unisolated"] is True and pre["payload"]["isolation"] == "none"


def test_the_current_cartridge_runs_in_process(kernel, registered, capsys):
    registered.test("greeter")
    registered.promote("greeter@1.0.0", approved_by="alice", reason="release")
    result = kernel.hypervisor.run_program("greeter.cli:main", ["Bob"], cartridge="greeter@1.0.0")
    assert result.status == "ok" and not result.sandboxed
    assert capsys.readouterr().out.strip() == "Hello, Bob, from a pixel archive!"


def test_an_archive_file_runs_sandboxed(kernel, greeter_tree, tmp_path):
    pack_tree(greeter_tree, tmp_path / "g.pxa")
    result = kernel.hypervisor.run_program("greet", [], cartridge=str(tmp_path / "g.pxa"), capture=True)
    assert result.sandboxed and result.stdout.strip() == "Hello, world, from a pixel archive!"


def test_unknown_programs_and_cartridges_are_clear_errors(kernel, registered):
    result = kernel.hypervisor.run_program("wave", [], cartridge="greeter", capture=True)
    assert result.status == "error" and "no program 'wave'" in result.error and "greet" in result.error
    result = kernel.hypervisor.run_program("json:dumps", ["1"], cartridge="greeter", capture=True)
    assert result.status == "error" and "not in the cartridge" in result.error
    with pytest.raises(NotFoundError, match="no cartridge named 'nope'"):
        kernel.hypervisor.run_program("greet", [], cartridge="nope")


def test_cli_walk_through(cli, greeter_tree, tmp_path):
    archive = str(tmp_path / "g.pxa")
    assert cli("cartridge", "pack", str(greeter_tree), "-o", archive)[0] == 0
    code, out, err = cli("cartridge", "register", archive, "--builder", "llm", "--by", "pixellm-local", "--json")
    assert code == 0, err
    assert json.loads(out)["builder"] == {"kind": "llm", "who": "pixellm-local"}
    code, out, err = cli("cartridge", "test", "greeter", "--json")
    assert code == 0 and json.loads(out)["tests"]["passed"], err
    code, out, _ = cli("cartridge", "promote", "greeter@1.0.0", "--approved-by", "alice", "--reason", "ok")
    assert code == 0 and "greeter@1.0.0 is now current" in out
    code, out, _ = cli("cartridge", "list", "--json")
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["current"]
    for command in ("show", "lineage"):
        code, out, _ = cli("cartridge", command, "greeter", "--json")
        assert code == 0 and "1.0.0" in out
    code, out, _ = cli("cartridge", "history", "--json")
    assert [h["action"] for h in json.loads(out)] == ["register", "test", "promote"]
    code, _, err = cli("cartridge", "rollback", "greeter", "--approved-by", "alice", "--reason", "why")
    assert code != 0 and "no earlier current version" in err and err.count("\n") == 1


def test_cartridge_test_shows_its_steps_on_a_terminal_and_nothing_when_piped(cli, greeter_tree, tmp_path):
    import os
    import subprocess
    import sys

    from pxos_kernel.testing import run_on_terminal

    archive = str(tmp_path / "g.pxa")
    assert cli("cartridge", "pack", str(greeter_tree), "-o", archive)[0] == 0
    assert cli("cartridge", "register", archive)[0] == 0
    env = {k: v for k, v in os.environ.items() if k not in ("PXOS_QUIET", "TERM")}
    command = [sys.executable, "-m", "pxos_kernel", "cartridge", "test", "greeter", "--json"]
    shown = run_on_terminal(command, env=env)
    assert shown.exit_code == 0, shown.terminal
    assert "tests in the sandbox" in shown.terminal and "guardrails" in shown.terminal
    assert "cartridge test greeter: 100%" in shown.terminal and "2/2" in shown.terminal
    assert json.loads(shown.stdout)["tests"]["passed"]  # stdout holds the record alone
    piped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert (piped.returncode, piped.stderr) == (0, "") and json.loads(piped.stdout)["tests"]["passed"]
