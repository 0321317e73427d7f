import json
import os
import subprocess
import sys

import pytest


def cli(*args, env=None, home):
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *args], capture_output=True, text=True,
                          env={**os.environ, "PXOS_HOME": str(home), **(env or {})}, timeout=120)


def test_version(pxos_cli):
    from pxos_kernel import __version__

    code, out, _ = pxos_cli("--version")
    assert code == 0 and out.strip() == f"pxos-kernel {__version__}"


def test_plugins_json_lists_the_kernel(pxos_cli):
    code, out, _ = pxos_cli("plugins", "--json")
    kernel = next(p for p in json.loads(out)["plugins"] if p["name"] == "kernel")
    assert code == 0 and kernel["distribution"] == "pxos-kernel"
    assert "hello" in kernel["registered"]["program"] and "jsonl" in kernel["registered"]["sink"]
    assert "pxos_programs" in kernel["hooks"]


def test_inspect_json(pxos_cli):
    code, out, _ = pxos_cli("inspect", "--json")
    report = json.loads(out)
    assert code == 0 and "no_network" in report["sandbox"] and report["registries"]["sink"]


def test_genesis_without_guardrails_does_not_pretend(pxos_cli):
    code, out, _ = pxos_cli("genesis")
    assert code == 3 and "nothing was checked" in out
    code, out, _ = pxos_cli("genesis", "--json")
    assert json.loads(out)["compliant"] is False and json.loads(out)["items"] == []


def test_genesis_prints_what_each_failed_item_violates(pxos_cli, monkeypatch):
    from pxos_kernel import Guardrail, Verdict, Violation, hookimpl
    from pxos_kernel.testing import add_plugin

    class Strict:
        @hookimpl
        def pxos_guardrails(self):
            return Guardrail("strict", lambda subject, context: Verdict(
                "failed", "read 3 files", (Violation("G1.1", "imports 'missing'", "a.py:1"),)), "fails")

    add_plugin(monkeypatch, Strict(), "strict")
    code, out, _ = pxos_cli("genesis")
    assert code == 1 and "evidence: read 3 files" in out and "violation: imports 'missing'" in out


def test_run_and_log(pxos_cli):
    assert pxos_cli("run", "hello", "--", "Ada")[1] == "Hello, Ada, from pxOS!\n"
    assert pxos_cli("run", "sample_programs:describe", "--json", "--", "-x")[0] == 0
    code, out, _ = pxos_cli("log", "-n", "1", "--json")
    (last,) = json.loads(out)
    assert last["payload"]["program"] == "sample_programs:describe" and last["payload"]["args"] == ["-x"]
    code, out, _ = pxos_cli("log")
    assert out.count("ATOM-RUN-") == 2


def test_run_prints_values_as_json(pxos_cli):
    code, out, _ = pxos_cli("run", "sample_programs:describe", "--json", "--", "a")
    assert json.loads(out)["value"] == {"args": ["a"], "cwd_is_scratch": False}


def test_program_exit_codes_pass_through(pxos_cli):
    assert pxos_cli("run", "sample_programs:exit_code", "--", "7")[0] == 7


@pytest.mark.parametrize("argv, message", [
    (["run", "no-such"], "unknown program 'no-such'"),
    (["run", "sample_programs:not_callable"], "not callable"),
    (["run", "sample_programs:fail"], "raised ValueError: this program always fails"),
    (["run", "sample_programs:sleep_forever", "--sandbox", "--timeout", "0.5"], "timed out"),
    (["log", "-n", "0"], "-n must be at least 1"),
])
def test_errors_are_one_clear_line(pxos_cli, argv, message):
    code, out, err = pxos_cli(*argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pxos-kernel: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_malformed_plugin_selection_is_one_line(pxos_home):
    done = cli("plugins", env={"PXOS_PLUGINS": "a,,b;c"}, home=pxos_home)
    assert done.returncode == 1 and done.stderr.strip().count("\n") == 0
    assert "PXOS_PLUGINS='a,,b;c' is malformed" in done.stderr


def test_corrupt_config_is_one_line_and_untouched(pxos_home):
    (pxos_home / "config.yaml").write_text("ledger: [oops\n")
    done = cli("run", "hello", home=pxos_home)
    assert done.returncode == 1 and "config file" in done.stderr and "invalid YAML" in done.stderr
    assert done.stderr.count("\n") == 1
    assert (pxos_home / "config.yaml").read_text() == "ledger: [oops\n"


def test_debug_shows_the_traceback(pxos_home):
    done = cli("--debug", "run", "no-such", home=pxos_home)
    assert "Traceback" in done.stderr and "NotFoundError" in done.stderr


def test_ledger_verify_and_repair(pxos_cli, pxos_home):
    pxos_cli("run", "hello")
    code, out, _ = pxos_cli("ledger", "verify")
    assert code == 0 and out.startswith("ok: 2 records")
    with open(pxos_home / "ledger" / "ledger.jsonl", "ab") as stream:
        stream.write(b'{"torn":')
    code, out, _ = pxos_cli("ledger", "verify", "--json")
    assert code == 1 and "line 3" in json.loads(out)["problem"]["what"]
    code, out, err = pxos_cli("run", "hello")
    assert code == 1 and "torn" in err and "ledger repair" in err
    code, out, _ = pxos_cli("ledger", "repair")
    assert code == 0 and "set aside 8 damaged bytes" in out
    assert pxos_cli("ledger", "verify")[0] == 0




@pytest.mark.parametrize("argv, message", [
    (["log", "-n", "0"], "pxos-kernel: error: -n must be at least 1, not 0"),
    (["storage", "get", "no-scheme-here"], "pxos-kernel: error: 'no-scheme-here' is not a storage URI of the form "
                                           "SCHEME://KEY"),
])
def test_usage_errors_exit_2_with_one_line(pxos_cli, argv, message):
    assert pxos_cli(*argv) == (2, "", message + "\n")


def test_an_argparse_usage_error_is_2_through_the_fixture(pxos_cli):
    code, out, err = pxos_cli("log", "-n", "not-a-number")
    assert code == 2 and "invalid int value: 'not-a-number'" in err


def test_the_ledger_records_the_exit_code_the_process_exits_with(pxos_cli, pxos_kernel):
    code, _, err = pxos_cli("run", "no-such-program")
    post = list(pxos_kernel.ledger.records())[-1]
    assert post["payload"]["status"] == "unresolved" and post["payload"]["exit_code"] == code == 1
    code = pxos_cli("run", "sample_programs:exit_code", "--", "7")[0]
    assert list(pxos_kernel.ledger.records())[-1]["payload"]["exit_code"] == code == 7


def test_a_sandboxed_programs_output_reaches_the_fixture(pxos_cli):
    code, out, _ = pxos_cli("run", "hello", "--sandbox")
    assert code == 0 and "Hello, world, from pxOS!" in out


@pytest.mark.parametrize("columns", [None, "", "junk", "0", "-3", "40", "200"])
def test_help_is_as_wide_as_shutil_says(monkeypatch, columns):
    """The CLI reads the terminal's width without shutil (start-up); it must find the width shutil finds."""
    import shutil

    from pxos_kernel.cli import _terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert _terminal_columns() == shutil.get_terminal_size().columns


def test_help_wraps_at_the_width_argparse_would_use(pxos_home):
    """``--help`` under COLUMNS=60 is exactly what argparse's own formatter prints for the same parser."""
    import argparse

    from pxos_kernel.cli import build_parser
    from pxos_kernel.core import Kernel

    env = {**os.environ, "PXOS_HOME": str(pxos_home), "COLUMNS": "60"}
    shown = subprocess.run([sys.executable, "-m", "pxos_kernel", "ledger", "verify", "--help"], capture_output=True,
                           text=True, env=env, timeout=120).stdout
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "60")
        parser = build_parser(Kernel(pxos_home), ["ledger", "verify"])
        verify = parser._subparsers._group_actions[0].choices["ledger"]._subparsers._group_actions[0].choices["verify"]
        verify.formatter_class = argparse.HelpFormatter
        assert shown == verify.format_help() and max(map(len, shown.splitlines())) <= 60
