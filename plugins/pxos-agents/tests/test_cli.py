"""The agent commands from the command line, and every bad input as one clear error line."""

import json

import pytest

from conftest import with_test_engine, write_config


def _error_line(err):
    """The one error line (other plugins' load warnings may stand before it, but no traceback)."""
    lines = [line for line in err.strip().splitlines() if not line.startswith("pxos-kernel: warning: ")]
    assert len(lines) == 1 and lines[0].startswith("pxos-kernel: error: "), err
    return lines[0]


def test_agent_list_says_ready_or_why_not(pxos_home, monkeypatch, pxos_cli):
    with_test_engine(monkeypatch)
    write_config(pxos_home, {"agents": {"pixellm-local": {"engine": "test-engine"}}})
    code, out, err = pxos_cli("agent", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["pixellm-local"]["ready"] and "test-engine" in rows["pixellm-local"]["reason"]
    assert not rows["openai-compatible"]["ready"] and "base_url" in rows["openai-compatible"]["reason"]
    assert rows["openai-compatible"]["needs_network"]
    code, out, err = pxos_cli("agent", "list")
    assert code == 0 and "pixellm-local" in out and "NO" in out


def test_consent_commands_write_config_and_the_ledger(pxos_home, pxos_cli):
    code, out, err = pxos_cli("agent", "consent", "grant", "127.0.0.1", "localhost")
    assert code == 0 and "127.0.0.1, localhost" in out
    code, out, err = pxos_cli("agent", "consent", "revoke", "localhost")
    assert code == 0 and out.strip().endswith("127.0.0.1")
    code, out, err = pxos_cli("agent", "consent", "list", "--json")
    assert json.loads(out) == ["127.0.0.1"]
    from pxos_kernel import Kernel

    with Kernel(pxos_home) as kernel:
        ops = [r["op"] for r in kernel.ledger.records() if r["type"] == "NET"]
    assert ops == ["consent_grant", "consent_revoke"]


def test_memory_commands(pxos_home, pxos_cli):
    code, out, err = pxos_cli("agent", "memory", "add", "decision", "Queue tasks in SQLite", "--body", "durable")
    atom = out.strip()
    assert code == 0 and atom.startswith("ATOM-DECISION-")
    code, out, err = pxos_cli("agent", "memory", "search", "sqlite", "--json")
    assert [m["atom_id"] for m in json.loads(out)] == [atom]
    code, out, err = pxos_cli("agent", "memory", "show", atom)
    assert code == 0 and "durable" in out


def test_task_commands(pxos_home, pxos_cli, task_dir, monkeypatch):
    monkeypatch.chdir(task_dir)
    assert pxos_cli("agent", "task", "add", "first", "--file", "calc.py")[0] == 0
    assert pxos_cli("agent", "task", "add", "second", "--after", "1", "--phase", "build")[0] == 0
    code, out, err = pxos_cli("agent", "task", "list", "--json")
    assert [(t["id"], t["state"], t["depends_on"]) for t in json.loads(out)] == [(1, "pending", []), (2, "pending", [1])]
    code, out, err = pxos_cli("agent", "task", "flag", "1", "check the spec")
    assert code == 0 and "NEEDS HUMAN: check the spec" in out
    code, out, err = pxos_cli("agent", "task", "show", "2")
    assert code == 0 and "after: 1" in out


def test_commands_that_change_state_print_json_too(pxos_home, pxos_cli, task_dir, monkeypatch):
    code, out, err = pxos_cli("agent", "consent", "grant", "127.0.0.1", "api.example.org", "--json")
    assert (code, json.loads(out)) == (0, ["127.0.0.1", "api.example.org"])
    code, out, err = pxos_cli("agent", "consent", "revoke", "127.0.0.1", "--json")
    assert (code, json.loads(out)) == (0, ["api.example.org"])
    code, out, err = pxos_cli("agent", "memory", "add", "result", "it works", "--body", "measured", "--json")
    entry = json.loads(out)
    assert code == 0 and entry["atom_id"].startswith("ATOM-RESULT-") and entry["body"] == "measured"
    monkeypatch.chdir(task_dir)
    assert pxos_cli("agent", "task", "add", "first", "--file", "calc.py")[0] == 0
    code, out, err = pxos_cli("agent", "task", "flag", "1", "check the spec", "--json")
    flagged = json.loads(out)
    assert code == 0 and (flagged["id"], flagged["needs_human"], flagged["human_reason"]) == (1, True, "check the spec")
    code, out, err = pxos_cli("agent", "task", "requeue", "1", "--json")
    assert code == 0 and (json.loads(out)["state"], json.loads(out)["needs_human"]) == ("pending", False)


@pytest.mark.parametrize("argv, expected", [
    (("agent", "task", "add", "x", "--file", "missing.py"), "task file missing.py: cannot read it"),
    (("agent", "task", "add", "x", "--file", "../calc.py"), "not a relative path inside the task"),
    (("agent", "task", "add", "x", "--after", "42"), "no task 42"),
    (("agent", "task", "add", "x", "--test", "python 'unclosed"), "cannot be parsed"),
    (("agent", "task", "add", "x", "--max-attempts", "0"), "max_attempts must be at least 1"),
    (("agent", "task", "list", "--state", "done"), "task state 'done' is unknown"),
    (("agent", "task", "requeue", "7"), "no task 7"),
    (("agent", "memory", "show", "ATOM-X-1"), "no memory entry ATOM-X-1"),
    (("agent", "consent", "grant", "https://example.org/"), "is not a host name"),
    (("agent", "coach", "--max-tasks", "0"), "--max-tasks must be at least 1"),
    (("agent", "coach", "--threshold", "2"), "--threshold must be within [0, 1]"),
    (("agent", "coach", "--generator", "nobody"), "no agent named 'nobody'"),
    (("agent", "propose", "x", "--agent", "openai-compatible"), "no base_url configured"),
    (("serve", "--max-tokens", "0"), "--max-tokens must be at least 1"),
])
def test_bad_input_is_one_clear_error_line(pxos_home, pxos_cli, task_dir, monkeypatch, argv, expected):
    monkeypatch.chdir(task_dir)
    code, out, err = pxos_cli(*argv)
    assert code != 0
    assert expected in _error_line(err)


def test_corrupt_queue_is_refused_by_the_cli(pxos_home, pxos_cli):
    path = pxos_home / "agents" / "queue.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 200)
    code, out, err = pxos_cli("agent", "task", "list")
    assert code == 1 and "refusing to use or replace it" in _error_line(err)
    assert path.read_bytes() == b"garbage" * 200


def test_unparsable_config_is_refused_by_consent_grant(pxos_home, pxos_cli):
    (pxos_home / "config.yaml").write_text("network: {consent: [a\n")
    code, out, err = pxos_cli("agent", "consent", "grant", "127.0.0.1")
    assert code == 1 and "invalid YAML" in _error_line(err)
    assert (pxos_home / "config.yaml").read_text() == "network: {consent: [a\n"


def test_consent_grant_and_revoke_keep_the_files_comments_and_layout(pxos_home, pxos_cli):
    path = pxos_home / "config.yaml"
    path.write_text("# my settings\nnetwork:\n    consent:\n      - 127.0.0.1   # the local server\n"
                    "sandbox:\n    timeout: 30   # seconds\n")
    assert pxos_cli("agent", "consent", "grant", "api.example.org")[0] == 0
    assert path.read_text() == ("# my settings\nnetwork:\n    consent:\n      - 127.0.0.1   # the local server\n"
                                "      - api.example.org\nsandbox:\n    timeout: 30   # seconds\n")
    assert pxos_cli("agent", "consent", "revoke", "api.example.org")[0] == 0
    assert path.read_text() == ("# my settings\nnetwork:\n    consent:\n      - 127.0.0.1   # the local server\n"
                                "sandbox:\n    timeout: 30   # seconds\n")


def test_agent_settings_are_declared_and_checked(pxos_home, pxos_cli):
    path = pxos_home / "config.yaml"
    path.write_text("network:\n  consent: api.example.com\n")
    code, out, err = pxos_cli("agent", "task", "list")
    assert code == 1 and _error_line(err) == (f"pxos-kernel: error: config file {path}: network.consent must be "
                                              "a list, not 'api.example.com'")
    assert path.read_text() == "network:\n  consent: api.example.com\n"
    assert pxos_cli("config", "set", "network.consent", "[api.example.com]")[0] == 0
    code, out, err = pxos_cli("config", "set", "agents.openai-compatible.timout", "5")
    assert code == 2 and "did you mean 'timeout'?" in _error_line(err)
    assert pxos_cli("config", "get", "agents.openai-compatible.timeout")[1] == "60.0\n"
