"""Plugin loading and registries, with plugin objects registered in-process.

(Plugins installed with pip into a real environment are tested in test_third_party_plugins.py.)
"""

import sys

import pytest

from pxos_kernel import SinkSpec, Program, StorageBackend, hookimpl
from pxos_kernel.errors import ConflictError, NotFoundError, PluginError
from pxos_kernel.entrypoints import PluginEntryPoint, find_entry_points
from pxos_kernel.plugins import Plugins, parse_name_list


class Greeter:
    @hookimpl
    def pxos_programs(self):
        return [Program("greet", "pxos_kernel.programs:hello", "greets")]


class AnotherGreeter:
    @hookimpl
    def pxos_programs(self):
        return Program("greet", "pxos_kernel.programs:hello", "greets too")


class WrongType:
    @hookimpl
    def pxos_storage_backends(self):
        return SinkSpec("oops", dict, "a sink where a backend belongs")


class Exploding:
    @hookimpl
    def pxos_storage_backends(self):
        raise RuntimeError("boom")


def plugins(env=None):
    return Plugins(env or {})


def test_registrations_are_collected_and_resolved():
    p = plugins()
    p.register(Greeter(), "greeter", "greeter-dist", "1.0")
    registry = p.registry("program")
    assert registry.get("greet").summary == "greets" and registry.owner("greet") == "greeter"
    assert p.info["greeter"].registered == {"program": ["greet"]}


def test_registrations_are_immutable_values():
    """Registrations compare, hash, print and pickle by their fields, as the frozen dataclasses they replaced."""
    import pickle

    from pxos_kernel import Subcommand

    program = Program("hello", "pxos_kernel.programs:hello", "greet", leading_args=("-v",))
    assert program == Program("hello", "pxos_kernel.programs:hello", "greet", ("-v",))
    assert program != Program("hello", "pxos_kernel.programs:hello", "greet") and program != ("hello",)
    assert hash(program) == hash(Program("hello", "pxos_kernel.programs:hello", "greet", ("-v",)))
    assert repr(program) == ("Program(name='hello', entry='pxos_kernel.programs:hello', summary='greet', "
                             "leading_args=('-v',), sandbox=False, origin='')")
    assert pickle.loads(pickle.dumps(program)) == program
    with pytest.raises(AttributeError, match="immutable"):
        program.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del program.summary
    with pytest.raises(TypeError):
        Program("hello")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="program name 'Bad Name' is invalid"):
        Program("Bad Name", "m:f", "s")
    # a command's description only describes it
    assert Subcommand("x", "s", print, description="long") == Subcommand("x", "s", print)


def test_unknown_name_lists_what_is_available():
    p = plugins()
    p.register(Greeter(), "greeter")
    with pytest.raises(NotFoundError, match=r"no program named 'nope' \(available: greet\)"):
        p.registry("program").get("nope")


def test_conflicting_names_are_an_error_naming_both_plugins():
    p = plugins()
    p.register(Greeter(), "greeter", "greeter-dist")
    p.register(AnotherGreeter(), "copycat", "copycat-dist")
    registry = p.registry("program")  # the family still works; only the name is unusable
    with pytest.raises(ConflictError) as info:
        registry.get("greet")
    message = str(info.value)
    assert "'greeter' (greeter-dist)" in message and "'copycat' (copycat-dist)" in message
    assert "PXOS_DISABLE_PLUGINS=copycat" in message
    assert p.collect_all() == [message]


@pytest.mark.parametrize("bad, problem", [(WrongType(), "returned SinkSpec, not StorageBackend"),
                                          (Exploding(), "raised RuntimeError: boom")])
def test_bad_registrations_are_skipped_with_a_warning(bad, problem, capsys):
    p = plugins()
    p.register(bad, "bad", "bad-dist", "0.1")
    p.register(type("Good", (), {"pxos_storage_backends": hookimpl(
        lambda self: StorageBackend("mem", dict, "fine"))})(), "good")
    assert p.registry("storage").names() == ["mem"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "plugin 'bad' (bad-dist 0.1) skipped" in err and problem in err


def test_strict_mode_makes_bad_plugins_fatal():
    p = plugins({"PXOS_STRICT_PLUGINS": "1"})
    p.register(Exploding(), "bad")
    with pytest.raises(PluginError, match="PXOS_STRICT_PLUGINS"):
        p.registry("storage")


def entry_point(name, value):
    return PluginEntryPoint(name, value, "test-dist", "1.0")


def test_entry_points_that_fail_to_import_are_skipped(capsys):
    p = plugins()
    p.load_entry_points([entry_point("broken", "no_such_module_for_pxos:plugin"),
                         entry_point("fine", "pxos_kernel.builtin")])
    assert p.info["broken"].loaded is False and "failed to import" in p.info["broken"].errors[0]
    assert p.info["fine"].loaded is True
    assert "plugin 'broken'" in capsys.readouterr().err


def test_plugin_selection_by_environment():
    p = plugins({"PXOS_PLUGINS": "fine"})
    p.load_entry_points([entry_point("other", "no_such_module_for_pxos"), entry_point("fine", "pxos_kernel.builtin")])
    assert p.info["fine"].loaded and not p.info["other"].loaded and not p.warnings
    p = plugins({"PXOS_DISABLE_PLUGINS": "fine"})
    p.load_entry_points([entry_point("fine", "pxos_kernel.builtin")])
    assert not p.info["fine"].loaded and "deselected" in p.info["fine"].errors[0]


@pytest.mark.parametrize("value", ["a,,b", "a;b", "a b", ",", "x=y"])
def test_malformed_plugin_lists_are_refused(value):
    with pytest.raises(PluginError, match="malformed"):
        parse_name_list("PXOS_PLUGINS", value)


def test_plugin_lists_allow_spaces_and_trailing_commas():
    assert parse_name_list("PXOS_PLUGINS", " a , b,") == {"a", "b"}
    assert parse_name_list("PXOS_PLUGINS", "") is None


def test_entry_points_are_found_like_importlib_metadata_finds_them():
    from importlib.metadata import distributions

    # Booted from a system cartridge, its finder is the only source of plugins (not the host's site-packages).
    system = [f for f in sys.meta_path if getattr(f, "exclusive", False)]
    dists = system[0].find_distributions() if system else distributions()
    seen: set = set()
    expected = sorted((ep.name, ep.value, ep.dist.name.replace("_", "-").lower()) for d in dists
                      if d.name.lower() not in seen and not seen.add(d.name.lower())
                      for ep in d.entry_points if ep.group == "pxos")
    found = sorted((ep.name, ep.value, ep.distribution) for ep in find_entry_points("pxos"))
    assert found == expected


def test_entry_points_txt_parsing(tmp_path):
    dist = tmp_path / "my_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[console_scripts]\nx = a:b\n\n[pxos]\nmine = my_plugin.hooks\n"
                                           "# comment\nother = my_plugin.more:obj\n")
    found = find_entry_points("pxos", [str(tmp_path)])
    assert found == [PluginEntryPoint("mine", "my_plugin.hooks", "my-plugin", "1.2.3"),
                     PluginEntryPoint("other", "my_plugin.more:obj", "my-plugin", "1.2.3")]


def test_entry_points_in_a_zip_on_the_path_are_found(tmp_path):
    """pxOS run as a zipapp, shiv or PEX has its distributions inside a zip file on sys.path."""
    import zipfile

    bundle = tmp_path / "app.pyz"
    with zipfile.ZipFile(bundle, "w") as out:
        out.writestr("my_plugin-1.2.3.dist-info/entry_points.txt", "[pxos]\nmine = my_plugin.hooks\n")
        out.writestr("my_plugin-1.2.3.dist-info/METADATA", "Name: my-plugin\n")
        out.writestr("other-0.1.dist-info/METADATA", "Name: other\n")
        out.writestr("my_plugin/__init__.py", "")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    found = find_entry_points("pxos", [str(bundle), str(tmp_path / "broken.zip")])
    assert found == [PluginEntryPoint("mine", "my_plugin.hooks", "my-plugin", "1.2.3")]


class Silent:
    """An engine that meets the Engine interface and says nothing about itself."""

    def models(self):
        return []

    def generate(self, request):
        return iter(())

    def close(self):
        pass


class SettingsEngine(Silent, dict):
    """An engine that is its settings."""


class Settings:
    @hookimpl
    def pxos_inference_engines(self):
        from pxos_kernel import InferenceEngine

        return InferenceEngine("settings-echo", lambda settings: SettingsEngine(settings), "an engine that is its settings")


def test_engine_settings_given_for_one_instance_override_the_config(pxos_home):
    from pxos_kernel import Kernel

    (pxos_home / "config.yaml").write_text("inference:\n  settings-echo:\n    offload: none\n    batch: 4\n")
    with Kernel(pxos_home, env={"PXOS_PLUGINS": "kernel"}) as kernel:
        kernel.plugins.register(Settings(), "settings", "settings-dist", "1.0")
        shared = kernel.engine("settings-echo")
        assert shared["offload"] == "none" and kernel.engine("settings-echo") is shared
        flagged = kernel.engine("settings-echo", offload="layers 0-1")
        assert flagged["offload"] == "layers 0-1" and flagged["batch"] == 4
        assert kernel.engine("settings-echo", offload="layers 0-1") is flagged and shared["offload"] == "none"


class Described:
    @hookimpl
    def pxos_inference_engines(self):
        from pxos_kernel import InferenceEngine, InferenceError

        class Engine(Silent):
            def describe(self):
                return {"adapter": "a test adapter", "summary": ["engine described on a test adapter"]}

        class Broken(Silent):
            def describe(self):
                raise InferenceError("no adapter here")

        return [InferenceEngine("described", lambda settings: Engine(), "reports where it computes"),
                InferenceEngine("broken", lambda settings: Broken(), "cannot say"),
                InferenceEngine("silent", lambda settings: Silent(), "has no report")]


def test_inspect_shows_each_engines_own_report(pxos_home):
    from pxos_kernel import Kernel

    with Kernel(pxos_home, env={"PXOS_PLUGINS": "kernel"}) as kernel:
        kernel.plugins.register(Described(), "described", "described-dist", "1.0")
        engines = kernel.hypervisor.inspect_self(engines=True)["engines"]
        unprobed = kernel.hypervisor.inspect_self()["engines"]
    assert engines == {"described": {"adapter": "a test adapter", "summary": ["engine described on a test adapter"]},
                       "broken": {"error": "no adapter here"}}
    # a plain inspect builds no engine (that would import its libraries) and says how to ask
    assert set(unprobed) == {"described", "broken", "silent"}
    assert all("inspect --engines" in report["not_probed"] for report in unprobed.values())


def test_names_are_checked_as_their_patterns_say():
    """Registration names, commands, setting keys, guardrail ids, plugin names and dist-info directories are
    checked by string operations (compiling regular expressions cost start-up); they accept what the
    documented patterns accept, and nothing else."""
    import itertools
    import re

    from pxos_kernel.entrypoints import _dist_dir
    from pxos_kernel.plugins import _normal
    from pxos_kernel.registrations import _is_command, _is_key, _is_name, _ID_CHARS, _ALNUM, _spelled

    alphabet = "aZ0_.- [p]y"
    samples = ["".join(chars) for n in range(5) for chars in itertools.product(alphabet, repeat=n)]
    samples += ["ledger query", "storage.pixelfs.tile_size", "G1.1", "pxos_kernel-0.1.0.dist-info",
                "foo-1.0-py3.11.egg-info", "my-pkg-1.0.dist-info", "foo-1.0-x.dist-info", "a--b__c..d"]
    patterns = {_is_name: r"[a-z][a-z0-9_.-]*", _is_command: r"[a-z][a-z0-9-]*( [a-z][a-z0-9-]*)*",
                _is_key: r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*",
                (lambda v: _spelled(v, _ALNUM, _ID_CHARS)): r"[A-Za-z0-9][A-Za-z0-9_.-]*"}
    for check, pattern in patterns.items():
        assert [s for s in samples if check(s)] == [s for s in samples if re.fullmatch(pattern, s)], pattern
    dist = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+?)(-py[^-]*)?\.(dist|egg)-info")
    for sample in samples + [s + suffix for s in samples for suffix in (".dist-info", ".egg-info")]:
        match = dist.fullmatch(sample)
        assert _dist_dir(sample) == (match and (match["name"], match["version"])), sample
        assert _normal(sample) == re.sub(r"[-_.]+", "-", sample).lower()
