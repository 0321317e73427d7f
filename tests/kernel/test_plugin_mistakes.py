"""A plugin author's ordinary mistakes: each is one line naming the plugin and the problem, the rest works."""

from __future__ import annotations

import json

import pytest

from pxos_kernel import Kernel, ObjectInfo, PluginError, Program, StorageBackend, hookimpl
from pxos_kernel.entrypoints import PluginEntryPoint
from pxos_kernel.plugins import Plugins
from pxos_kernel.testing import add_plugin


class DictStore:
    """The smallest working Storage, for the plugin that does everything right."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key, data, *, content_type=None):
        self.objects[key] = data
        return self.info(key)

    def get(self, key, offset=0, length=None):
        return self.objects[key][offset:None if length is None else offset + length]

    def copy_to(self, key, out):
        out.write(self.objects[key])
        return self.info(key)

    def info(self, key):
        return ObjectInfo(key, len(self.objects[key]), "0" * 64)

    def ls(self, prefix=""):
        return [self.info(k) for k in sorted(self.objects) if k.startswith(prefix)]

    def verify(self, key):
        return self.info(key)

    def exists(self, key):
        return key in self.objects

    def close(self):
        pass


class Backends:
    """A plugin registering storage backends made by ``factory``."""

    def __init__(self, scheme, factory=lambda settings: DictStore()):
        self.scheme, self.factory = scheme, factory

    @hookimpl
    def pxos_storage_backends(self):
        return StorageBackend(self.scheme, self.factory, "test backend")


def one_warning(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("pxos-kernel: warning: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_misspelled_hook_name_is_one_warning_with_a_suggestion(pxos_cli, monkeypatch):
    class Typo:
        @hookimpl
        def pxos_storage_backend(self):  # no "s"
            return StorageBackend("typo", lambda s: DictStore(), "never registered")

    add_plugin(monkeypatch, Typo(), "typo-plugin", "pxos-typo")
    code, out, err = pxos_cli("storage", "backends", "--json")
    assert code == 0 and "typo" not in json.loads(out)
    assert one_warning(err) == ("pxos-kernel: warning: plugin 'typo-plugin' (pxos-typo ?): pxos_storage_backend is not "
                                "a pxos hook (did you mean 'pxos_storage_backends'?), so it registers nothing")


def test_strict_plugins_makes_an_unknown_hook_fatal(pxos_cli, monkeypatch):
    class Typo:
        @hookimpl
        def pxos_programz(self):
            return []

    add_plugin(monkeypatch, Typo(), "typo-plugin")
    monkeypatch.setenv("PXOS_STRICT_PLUGINS", "1")
    code, out, err = pxos_cli("plugins")
    assert code == 1 and err.strip().endswith("(did you mean 'pxos_programs'?), so it registers nothing "
                                              "[PXOS_STRICT_PLUGINS is set]")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("factory, message", [
    (lambda settings: 1 / 0, "storage backend 'boom' of plugin 'boomer' (tests): its factory raised "
                             "ZeroDivisionError: division by zero"),
    (lambda settings: None, "storage backend 'boom' of plugin 'boomer' (tests): its factory returned NoneType, "
                            "which is not a Storage (missing: put, get, copy_to, info, ls, verify, exists, close)"),
    (lambda settings: object(), "storage backend 'boom' of plugin 'boomer' (tests): its factory returned object, "
                                "which is not a Storage (missing: put, get, copy_to, info, ls, verify, exists, close)"),
])
def test_a_bad_factory_is_a_plugin_error_naming_the_plugin(pxos_cli, monkeypatch, factory, message):
    add_plugin(monkeypatch, Backends("boom", factory), "boomer")
    add_plugin(monkeypatch, Backends("fine"), "fine-plugin")
    assert pxos_cli("storage", "ls", "boom://") == (1, "", f"pxos-kernel: error: {message}\n")
    assert pxos_cli("storage", "ls", "fine://")[0] == 0


def test_a_factory_missing_some_members_names_them(pxos_home, monkeypatch):
    class HalfStore(DictStore):
        verify = None  # type: ignore[assignment]
        copy_to = None  # type: ignore[assignment]

    add_plugin(monkeypatch, Backends("half", lambda s: HalfStore()), "half-plugin")
    with Kernel(pxos_home) as kernel, pytest.raises(PluginError, match=r"\(missing: copy_to, verify\)$"):
        kernel.storage("half")


def test_a_duplicate_name_disables_only_that_name(pxos_cli, monkeypatch):
    add_plugin(monkeypatch, Backends("dup"), "first-plugin", "pxos-first")
    add_plugin(monkeypatch, Backends("dup"), "second-plugin", "pxos-second")
    add_plugin(monkeypatch, Backends("fine"), "fine-plugin")
    conflict = ("storage 'dup' is registered by both plugin 'first-plugin' (pxos-first) and plugin "
                "'second-plugin' (pxos-second); uninstall one or set PXOS_DISABLE_PLUGINS=second-plugin")
    code, out, err = pxos_cli("storage", "ls", "fine://")
    assert code == 0
    assert one_warning(err) == f"pxos-kernel: warning: {conflict}"
    code, out, err = pxos_cli("storage", "ls", "dup://")
    assert code == 1 and err.splitlines()[-1] == f"pxos-kernel: error: {conflict}"


def test_a_hookimpl_that_fails_validation_is_not_loaded_anywhere(pxos_cli, monkeypatch):
    class WrongArgument:
        @hookimpl
        def pxos_programs(self):
            return Program("half-loaded", "sample_programs:exit_code", "must not appear")

        @hookimpl
        def pxos_storage_backends(self, settings):  # registration hooks take no arguments
            return []

    add_plugin(monkeypatch, WrongArgument(), "wrong-arg", "pxos-wrong")
    code, out, err = pxos_cli("plugins", "--json")
    assert one_warning(err) == ("pxos-kernel: warning: plugin 'wrong-arg' (pxos-wrong ?) skipped: hook "
                                "pxos_storage_backends takes argument(s) {'settings'} that the hook does not pass")
    listed = {p["name"]: p for p in json.loads(out)["plugins"]}["wrong-arg"]
    assert listed["loaded"] is False and listed["registered"] == {}
    assert pxos_cli("run", "half-loaded")[0] == 1


@pytest.mark.parametrize("variable, value, message", [
    ("PXOS_PLUGINS", "pxos-pixelfz", "PXOS_PLUGINS names 'pxos-pixelfz', which is not an installed plugin or "
                                     "distribution (did you mean 'pxos-pixelfs'?)"),
    ("PXOS_DISABLE_PLUGINS", "ledgr", "PXOS_DISABLE_PLUGINS names 'ledgr', which is not an installed plugin or "
                                      "distribution (did you mean 'ledger'?)"),
])
def test_unknown_names_in_the_selection_are_one_warning(capsys, variable, value, message):
    eps = [PluginEntryPoint("pixelfs", "pxos_kernel.builtin", "pxos-pixelfs", "1"),
           PluginEntryPoint("ledger", "pxos_kernel.programs", "pxos-ledger", "1")]
    plugins = Plugins({variable: value})
    plugins.load_entry_points(eps)
    assert plugins.warnings == [message]
    assert capsys.readouterr().err == f"pxos-kernel: warning: {message}\n"


def test_a_mis_cased_distribution_name_selects_it():
    eps = [PluginEntryPoint("pixelfs", "pxos_kernel.builtin", "pxos-pixelfs", "1"),
           PluginEntryPoint("ledger", "pxos_kernel.programs", "pxos-ledger", "1")]
    plugins = Plugins({"PXOS_PLUGINS": "Pxos_PixelFS"})
    plugins.load_entry_points(eps)
    assert plugins.warnings == [] and plugins.info["pixelfs"].loaded and not plugins.info["ledger"].loaded
