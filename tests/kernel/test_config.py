import pytest

from pxos_kernel.config import load_config, load_world, parse_world, save_config
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
        save_config(pxos_home, {"ledger": {"sink": "jsonl"}})
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
    assert world.defaults["checkpoint_sink"] == "jsonl" and "pxos-pixelfs" in world.expects


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
    path.write_text("version: 1\nname: tiny\ndefaults: {checkpoint_sink: jsonl}\n")
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
