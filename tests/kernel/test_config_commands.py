"""``config show|get|set|unset|validate`` and the settings plugins declare.

Every change keeps the file's comments and layout; every refusal is one line
and leaves the file as it was.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from pxos_kernel import Kernel, Setting, StorageBackend, edit_config, hookimpl
from pxos_kernel.testing import add_plugin

CONFIG = """\
# my pxOS settings
defaults:
  sink: jsonl     # the built-in one

ledger:
  durability: flush   # survives a crash
sandbox:
  timeout: 30
"""


class Declares:
    """A plugin with a storage backend and settings of its own, as a third party would write it."""

    @hookimpl
    def pxos_settings(self):
        return [
            Setting("storage.memo.capacity", int, 64, "most objects kept"),
            Setting("storage.memo.colour", str, "blue", "what colour", choices=("blue", "red")),
            Setting("memo", dict, None, "the memo plugin"),
            Setting("memo.hosts", list, [], "hosts it may use"),
        ]

    @hookimpl
    def pxos_storage_backends(self):
        return StorageBackend("memo", lambda settings: None, "remembers (never built in these tests)")


@pytest.fixture
def config(pxos_home):
    path = pxos_home / "config.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def memo(monkeypatch):
    plugin = Declares()
    add_plugin(monkeypatch, plugin, "memo-plugin", "pxos-memo")
    return plugin


def test_set_keeps_comments_order_and_layout(pxos_cli, config):
    code, out, err = pxos_cli("config", "set", "ledger.durability", "fsync")
    assert (code, out, err) == (0, f"ledger.durability = fsync ({config})\n", "")
    code, out, err = pxos_cli("config", "set", "sandbox.memory_mb", "512")
    assert code == 0
    assert config.read_text() == CONFIG.replace("flush   #", "fsync   #") + "  memory_mb: 512\n"


def test_set_keeps_four_space_indents_and_indented_lists(pxos_cli, memo, pxos_home):
    path = pxos_home / "config.yaml"
    path.write_text("memo:\n    hosts:\n      - a.example   # first\n      - b.example   # second\n")
    code, out, err = pxos_cli("config", "set", "memo.hosts", "[a.example, c.example, b.example]")
    assert code == 0, err
    assert path.read_text() == ("memo:\n    hosts:\n      - a.example   # first\n      - c.example\n"
                                "      - b.example   # second\n")


def test_set_refuses_a_value_of_the_wrong_type_in_one_line(pxos_cli, config):
    code, out, err = pxos_cli("config", "set", "ledger.path", "[a, b]")
    assert (code, out) == (2, "")
    assert err == (f"pxos-kernel: error: cannot set ledger.path: ledger.path must be a string, not ['a', 'b']; "
                   f"{config} is unchanged\n")
    assert config.read_text() == CONFIG


def test_set_refuses_a_value_outside_the_choices_with_a_suggestion(pxos_cli, memo, config):
    code, out, err = pxos_cli("config", "set", "storage.memo.colour", "rd")
    assert code == 2 and config.read_text() == CONFIG
    assert err == (f"pxos-kernel: error: cannot set storage.memo.colour: storage.memo.colour must be one of blue, "
                   f"red, not 'rd' (did you mean 'red'?); {config} is unchanged\n")


def test_set_refuses_an_unknown_key_unless_forced(pxos_cli, config):
    code, out, err = pxos_cli("config", "set", "ledger.durabilty", "fsync")
    assert code == 2 and config.read_text() == CONFIG
    assert err == (f"pxos-kernel: error: cannot set ledger.durabilty: unknown key ledger.durabilty (did you mean "
                   f"'durability'?); ledger knows durability, hmac_key_file, path (--force writes it anyway); "
                   f"{config} is unchanged\n")
    code, out, err = pxos_cli("config", "set", "ledger.durabilty", "fsync", "--force")
    assert code == 0 and "  durabilty: fsync\n" in config.read_text()


def test_set_below_a_value_that_is_not_a_mapping_is_one_line(pxos_cli, config):
    code, out, err = pxos_cli("config", "set", "sandbox.timeout.seconds", "3")
    assert code == 2 and config.read_text() == CONFIG
    assert err == (f"pxos-kernel: error: cannot set sandbox.timeout.seconds: sandbox.timeout is 30, not a mapping; "
                   f"{config} is unchanged\n")


def test_set_never_rewrites_a_file_it_cannot_parse(pxos_cli, pxos_home):
    path = pxos_home / "config.yaml"
    path.write_text("ledger: [unclosed\n")
    code, out, err = pxos_cli("config", "set", "ledger.path", "x")
    assert code == 1
    assert err.startswith(f"pxos-kernel: error: config file {path}: invalid YAML at line 2, column 1: ")
    assert err.count("\n") == 1
    assert path.read_text() == "ledger: [unclosed\n"


def test_a_wrong_setting_can_be_put_right_with_set(pxos_cli, config):
    """Commands refuse a file with a wrong value, but config set and unset still edit it."""
    config.write_text(CONFIG.replace("timeout: 30", "timeout: 30\n  extra: 1") + "defaults_typo: 1\n")
    config.write_text(config.read_text().replace("sink: jsonl", "sink: 5"))
    assert pxos_cli("log")[0] == 1
    assert pxos_cli("config", "set", "defaults.sink", "jsonl")[0] == 0
    assert pxos_cli("config", "unset", "defaults_typo")[0] == 0
    assert pxos_cli("log")[0] == 0


def test_set_keeps_the_files_mode_and_string_settings_stay_strings(pxos_cli, config):
    os.chmod(config, 0o600)
    assert pxos_cli("config", "set", "ledger.path", "007")[0] == 0
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert "  path: '007'\n" in config.read_text()
    assert pxos_cli("config", "get", "ledger.path")[1] == "007\n"


def test_set_and_unset_print_json(pxos_cli, config):
    code, out, err = pxos_cli("config", "set", "sandbox.timeout", "45", "--json")
    assert json.loads(out) == {"path": str(config), "key": "sandbox.timeout", "value": 45, "previous": 30}
    code, out, err = pxos_cli("config", "unset", "sandbox.timeout", "--json")
    assert json.loads(out) == {"path": str(config), "key": "sandbox.timeout", "removed": True, "previous": 45}
    assert "sandbox" not in config.read_text()  # the section it emptied goes too
    assert "# the built-in one" in config.read_text()


def test_unset_of_what_is_not_set_changes_nothing(pxos_cli, config):
    code, out, err = pxos_cli("config", "unset", "ledger.hmac_key_file")
    assert (code, out) == (0, f"ledger.hmac_key_file is not set in {config}: nothing to do\n")
    assert config.read_text() == CONFIG


def test_get_prints_the_value_or_the_declared_default(pxos_cli, memo, config):
    assert pxos_cli("config", "get", "sandbox.timeout") == (0, "30\n", "")
    assert pxos_cli("config", "get", "storage.memo.capacity") == (0, "64\n", "")
    assert pxos_cli("config", "get", "defaults") == (0, "sink: jsonl\n", "")
    assert json.loads(pxos_cli("config", "get", "memo.hosts", "--json")[1]) == {"key": "memo.hosts", "value": []}


def test_get_of_an_unset_or_unknown_key_is_one_line(pxos_cli, config):
    assert pxos_cli("config", "get", "ledger.hmac_key_file") == (1, "", (
        "pxos-kernel: error: setting ledger.hmac_key_file is not set and has no default (set it with "
        "'pxos-kernel config set ledger.hmac_key_file VALUE')\n"))
    code, out, err = pxos_cli("config", "get", "ledger.durabilit")
    assert code == 1 and err == (f"pxos-kernel: error: no setting 'ledger.durabilit' (did you mean "
                                 f"'ledger.durability'?) is declared by an installed plugin or set in {config}\n")


def test_validate_reports_every_problem_and_exits_1_on_an_error(pxos_cli, memo, config):
    config.write_text(CONFIG + "storage:\n  memo: {capacity: lots, colr: red}\n  mem: {}\nsandbx: {}\n")
    before = config.read_text()
    code, out, err = pxos_cli("config", "validate")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"error: config file {config}: storage.memo.capacity must be an integer, not 'lots'",
        f"warning: config file {config}: unknown key storage.memo.colr (did you mean 'colour'?); "
        "storage.memo knows capacity, colour",
        f"warning: config file {config}: storage.mem: no installed plugin registers a storage backend named 'mem' "
        "(did you mean 'memo'?), so nothing reads it",
        f"warning: config file {config}: unknown section 'sandbx' (did you mean 'sandbox'?); "
        "no installed plugin reads it",
        f"config file {config}: 1 error(s), 3 warning(s)",
    ]
    report = json.loads(pxos_cli("config", "validate", "--json")[1])
    assert report["valid"] is False and len(report["errors"]) == 1 and len(report["warnings"]) == 3
    assert config.read_text() == before


def test_validate_a_valid_file_and_a_missing_one(pxos_cli, config, tmp_path):
    code, out, err = pxos_cli("config", "validate")
    assert code == 0 and out.startswith(f"config file {config} is valid (3 value(s) checked against ")
    config.unlink()
    assert pxos_cli("config", "validate") == (
        0, f"config file {config} does not exist: every setting has its default\n", "")
    assert pxos_cli("config", "validate", "--file", str(tmp_path / "nope.yaml")) == (
        1, "", f"pxos-kernel: error: config file {tmp_path / 'nope.yaml'} does not exist\n")


def test_show_lists_declared_settings_with_values_defaults_and_owners(pxos_cli, memo, config):
    config.write_text(CONFIG + "storage:\n  memo:\n    capacity: 8\n")
    report = json.loads(pxos_cli("config", "show", "storage", "--json")[1])
    rows = {row["key"]: row for row in report["settings"]}
    assert rows["storage.memo.capacity"] == {
        "key": "storage.memo.capacity", "value": 8, "source": "config.yaml", "declared": True,
        "type": "an integer", "default": 64, "summary": "most objects kept", "plugin": "memo-plugin"}
    assert rows["storage.memo.colour"]["source"] == "default" and rows["storage.memo.colour"]["value"] == "blue"
    code, out, err = pxos_cli("config", "show", "sandbox")
    assert code == 0 and out.splitlines()[2].split()[:3] == ["sandbox", "{timeout:", "30}"]
    assert pxos_cli("config", "show", "sandbx")[2] == (
        "pxos-kernel: error: no setting is under 'sandbx' (did you mean 'sandbox'?)\n")


def test_declared_defaults_reach_the_factory_under_what_the_user_set(pxos_home, memo):
    (pxos_home / "config.yaml").write_text("storage:\n  memo:\n    colour: red\n")
    with Kernel(pxos_home) as kernel:
        assert kernel.settings("storage", "memo") == {"capacity": 64, "colour": "red"}
        assert kernel.section("memo") == {"hosts": []}
        assert kernel.setting("storage.memo.capacity") == 64


def test_two_plugins_declaring_one_key_is_a_conflict_naming_both(pxos_cli, memo, monkeypatch):
    class Again:
        @hookimpl
        def pxos_settings(self):
            return Setting("memo.hosts", list, [], "mine too")

    add_plugin(monkeypatch, Again(), "again", "pxos-again")
    code, out, err = pxos_cli("config", "get", "memo.hosts")
    assert code == 1
    assert ("pxos-kernel: warning: setting 'memo.hosts' is registered by both plugin 'memo-plugin' (pxos-memo) and "
            "plugin 'again' (pxos-again); uninstall one or set PXOS_DISABLE_PLUGINS=again") in err


@pytest.mark.parametrize("arguments, message", [
    (("Bad.Key", str), "setting key 'Bad.Key' is invalid"),
    (("a.b", set), "type must be one of str, int, float, bool, list, dict"),
    (("a.b", int, "3"), "setting a.b: '3' is not an integer"),
    (("a.b", str, "x", "", ("y",)), "setting a.b: default 'x' is not one of its choices"),
])
def test_a_setting_declared_wrongly_is_refused_where_it_is_made(arguments, message):
    with pytest.raises(ValueError, match=message):
        Setting(*arguments)


def test_edit_config_writes_nothing_when_the_block_raises(pxos_home, config):
    with pytest.raises(RuntimeError):
        with edit_config(pxos_home) as document:
            document.set("sandbox.timeout", 99)
            raise RuntimeError("changed my mind")
    assert config.read_text() == CONFIG
    assert [p.name for p in pxos_home.iterdir() if p.name.endswith(".tmp")] == []


def test_the_authoring_guides_settings_example_works(pxos_cli, pxos_home, monkeypatch):
    """docs/authoring.md's pxos_settings example, run as a plugin: declared, defaulted and checked."""
    import re
    import types
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(encoding="utf-8")
    section = guide[guide.index("## Settings"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    module = types.ModuleType("guide_settings")
    exec(compile(code, "docs/authoring.md", "exec"), module.__dict__)
    add_plugin(monkeypatch, module, "guide", "pxos-guide")
    assert pxos_cli("config", "get", "my-plugin.colour") == (0, "blue\n", "")
    (pxos_home / "config.yaml").write_text("my-plugin:\n  colour: green\n")
    code, out, err = pxos_cli("config", "validate")
    assert code == 1 and "my-plugin.colour must be one of blue, red, not 'green'" in out
