import sys
from pathlib import Path

import pytest

from pxos_kernel.config import home_dir, load_config, load_world, parse_world, save_config
from pxos_kernel.errors import ConfigError


@pytest.mark.parametrize("content, message", [
    ("ledger: [unclosed\n", "invalid YAML at line 2"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("ledger: 3\n", "section 'ledger' must be a mapping"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_bad_config_is_refused_with_its_path(pxos_home, content, message):
    path = pxos_home / "config.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=message) as info:
        load_config(pxos_home)
    assert str(path) in str(info.value)


def test_unparsable_config_is_never_overwritten(pxos_home):
    path = pxos_home / "config.yaml"
    path.write_text("ledger: [unclosed\n")
    with pytest.raises(ConfigError):
        save_config(pxos_home, {"defaults": {"sink": "jsonl"}})
    assert path.read_text() == "ledger: [unclosed\n"


def test_unreadable_config_names_the_problem(pxos_home):
    (pxos_home / "config.yaml").mkdir()
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(pxos_home)


def test_config_round_trip(pxos_home):
    save_config(pxos_home, {"sandbox": {"timeout": 5}})
    assert load_config(pxos_home) == {"sandbox": {"timeout": 5}}


def test_shipped_world_is_valid(pxos_home):
    world = load_world(pxos_home, {})
    assert world.defaults["sink"] == "jsonl" and "pxos-pixelfs" in world.expects


@pytest.mark.parametrize("content, message", [
    ("version: 2\n", "version must be 1"),
    ("version: 1\ndefaults: {teleport: x}\n", "unknown family 'teleport'"),
    ("version: 1\ndefaults: {storage: 3}\n", "must be a name"),
    ("version: 1\nexpects: pxos-pixelfs\n", "'expects' must be a list"),
    ("version: 1\nsurprise: 1\n", "unknown key"),
])
def test_bad_world_manifests_are_refused(tmp_path, content, message):
    path = tmp_path / "world.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        parse_world(path)


def test_world_can_be_chosen_by_environment(tmp_path, pxos_home):
    path = tmp_path / "w.yaml"
    path.write_text("version: 1\nname: tiny\ndefaults: {sink: jsonl}\n")
    assert load_world(pxos_home, {"PXOS_WORLD": str(path)}).name == "tiny"


def test_atomic_write_never_replaces_a_device(tmp_path):
    import os
    import stat

    from pxos_kernel.files import atomic_write

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    atomic_write(fifo, b"through the pipe")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.read(reader, 100) == b"through the pipe"
    os.close(reader)
    atomic_write(os.devnull, b"discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_users_world_overlays_the_shipped_one(pxos_home):
    """Setting one default keeps the others and the expected plugins (it used to replace them all)."""
    (pxos_home / "world.yaml").write_text("defaults: {storage: infinitemap}\n")
    world = load_world(pxos_home, {})
    assert world.defaults["storage"] == "infinitemap"
    assert world.defaults["sink"] == "jsonl" and world.defaults["inference"] == "pixellm"
    assert "pxos-pixelfs" in world.expects and str(pxos_home / "world.yaml") in world.source


@pytest.mark.parametrize("content, message", [
    ("defaults: {storag: pixelfs}\n", "unknown family 'storag' in defaults (did you mean 'storage'?) "
                                       "(known: storage, inference, sink, agent, boot)"),
    ("defaults: {sink: 5}\n", "defaults.sink must be a name, not 5"),
    ("ledger: {sink: sqlite}\n", "ledger.sink is now defaults.sink (write 'defaults: {sink: sqlite}')"),
    ("agents: 5\n", "section 'agents' must be a mapping, not int"),
])
def test_bad_defaults_get_one_line_and_the_file_is_kept(pxos_home, content, message):
    path = pxos_home / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(pxos_home)
    assert str(info.value) == f"config file {path}: {message}"
    assert path.read_text() == content


def test_config_defaults_choose_a_familys_backend(pxos_home):
    from pxos_kernel import Kernel

    save_config(pxos_home, {"defaults": {"storage": "memory-test"}})
    with Kernel(pxos_home, load_plugins=False) as kernel:
        assert kernel.default_name("storage") == "memory-test"
        assert kernel.default_name("sink") == "jsonl"  # the world's


def test_a_settings_section_that_is_not_a_mapping_is_one_line(pxos_home):
    from pxos_kernel import Kernel

    save_config(pxos_home, {"storage": {"pixelfs": 5}})
    with Kernel(pxos_home, load_plugins=False) as kernel:
        with pytest.raises(ConfigError, match=r"storage.pixelfs must be a mapping of settings, not int$"):
            kernel.storage("pixelfs")


def test_config_typos_warn_with_a_suggestion_and_the_file_is_kept(pxos_cli, pxos_home):
    path = pxos_home / "config.yaml"
    content = "# mine\ndefault:\n  sink: jsonl\nledger:\n  durabilty: fsync\n"
    path.write_text(content)
    code, out, err = pxos_cli("log")
    assert code == 0 and path.read_text() == content
    assert err.splitlines() == [
        f"pxos-kernel: warning: config file {path}: unknown section 'default' (did you mean 'defaults'?); "
        "no installed plugin reads it",
        f"pxos-kernel: warning: config file {path}: unknown key ledger.durabilty (did you mean 'durability'?); "
        "ledger knows durability, hmac_key_file, path",
    ]


def test_a_config_value_of_the_wrong_type_is_one_line_with_its_key_path(pxos_cli, pxos_home):
    path = pxos_home / "config.yaml"
    path.write_text("ledger:\n  path: [a, b]\n")
    assert pxos_cli("log") == (1, "", f"pxos-kernel: error: config file {path}: ledger.path must be a string, "
                                      "not ['a', 'b']\n")
    assert path.read_text() == "ledger:\n  path: [a, b]\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the written-out XDG rule is Linux's")
@pytest.mark.parametrize("xdg_data_home", [None, "", "/srv/data"])
def test_the_default_home_is_where_platformdirs_puts_it(monkeypatch, tmp_path, xdg_data_home):
    import platformdirs

    monkeypatch.delenv("PXOS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg_data_home is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg_data_home)
    assert home_dir() == Path(platformdirs.user_data_dir("pxos", appauthor=False))


def test_a_relative_xdg_data_home_is_ignored_as_the_xdg_spec_says(monkeypatch, tmp_path):
    monkeypatch.delenv("PXOS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert home_dir() == tmp_path / ".local" / "share" / "pxos"
