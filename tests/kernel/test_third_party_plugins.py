"""Third-party plugins, written in new directories and pip-installed into a venv.

Four distributions are installed into one venv for the whole module:

- ``pxos-thirdparty-good``: a program, a storage backend and a command;
- ``pxos-thirdparty-broken``: its entry-point module raises when imported;
- ``pxos-thirdparty-dup-a`` and ``-dup-b``: both register the guardrail ``dup-check``.

Every test then runs the real ``pxos-kernel`` in that venv and looks at what a
user would see. Other plugins installed on this machine may load too; the
tests only judge these four (and the kernel's built-ins).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pxos_kernel.testing import PluginVenv

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "1.2.3"
dependencies = ["pxos-kernel"]

[project.entry-points.pxos]
{name} = "{package}.plugin"

[tool.setuptools]
packages = ["{package}"]
"""

PLUGINS = {
    "good": ("pxos-thirdparty-good", '''
        from pxos_kernel import Program, StorageBackend, Subcommand, hookimpl


        def make_store(settings):
            from pxos_thirdparty_good.store import MemoryStore
            return MemoryStore()


        def shout(args):
            print(" ".join(args.words).upper())
            return 0


        @hookimpl
        def pxos_programs():
            return Program("tp-double", "pxos_thirdparty_good.programs:double", "print twice the number given")


        @hookimpl
        def pxos_storage_backends():
            return StorageBackend("tp-memory", make_store, "objects in a dict, gone at exit")


        @hookimpl
        def pxos_subcommands():
            return Subcommand("tp-shout", "print words in capitals", shout,
                              lambda parser: parser.add_argument("words", nargs="+"))
    ''', {
        "programs.py": '''
            def double(number):
                print(int(number) * 2)
                return 0
        ''',
        "store.py": '''
            import hashlib

            from pxos_kernel import NotFoundError, ObjectInfo


            class MemoryStore:
                def __init__(self):
                    self.objects = {}

                def put(self, key, data, *, content_type=None):
                    self.objects[key] = data if isinstance(data, bytes) else data.read()
                    return self.info(key)

                def get(self, key, offset=0, length=None):
                    data = self.info(key) and self.objects[key]
                    return data[offset:None if length is None else offset + length]

                def info(self, key):
                    if key not in self.objects:
                        raise NotFoundError(f"no object {key!r}")
                    data = self.objects[key]
                    return ObjectInfo(key, len(data), hashlib.sha256(data).hexdigest())

                def ls(self, prefix=""):
                    return [self.info(k) for k in sorted(self.objects) if k.startswith(prefix)]

                def copy_to(self, key, out):
                    out.write(self.get(key))
                    return self.info(key)

                def verify(self, key):
                    return self.info(key)

                def exists(self, key):
                    return key in self.objects

                def close(self):
                    pass
        ''',
    }),
    "broken": ("pxos-thirdparty-broken", '''
        raise RuntimeError("this plugin is broken on purpose")
    ''', {}),
    "dup-a": ("pxos-thirdparty-dup-a", '''
        from pxos_kernel import Guardrail, Verdict, hookimpl


        @hookimpl
        def pxos_guardrails():
            return Guardrail("dup-check", lambda subject, context: Verdict("passed", "a"), "from dup-a")
    ''', {}),
    "dup-b": ("pxos-thirdparty-dup-b", '''
        from pxos_kernel import Guardrail, Verdict, hookimpl


        @hookimpl
        def pxos_guardrails():
            return Guardrail("dup-check", lambda subject, context: Verdict("passed", "b"), "from dup-b")
    ''', {}),
}


def write_plugin(root: Path, name: str, dist: str, plugin: str, modules: dict[str, str]) -> Path:
    """A plugin project in a new directory, as a third party would write it."""
    package = dist.replace("-", "_")
    project = root / dist
    (project / package).mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, name=name, package=package))
    (project / package / "__init__.py").write_text("")
    (project / package / "plugin.py").write_text(textwrap.dedent(plugin).lstrip())
    for filename, source in modules.items():
        (project / package / filename).write_text(textwrap.dedent(source).lstrip())
    return project


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("third-party")
    venv = PluginVenv(root / "venv")
    for name, (dist, plugin, modules) in PLUGINS.items():
        venv.install(write_plugin(root / "src", name, dist, plugin, modules))
    return venv


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "pxos-home"
    home.mkdir()
    return home


def plugins_json(venv, home, **env) -> tuple[dict, object]:
    done = venv.cli("plugins", "--json", home=home, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return {p["name"]: p for p in report["plugins"]}, done


def warnings_about(stderr: str, name: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"plugin {name!r}" in line]


# -- a working plugin ---------------------------------------------------------------------


def test_installed_plugin_shows_up_with_its_registrations(venv, home):
    plugins, _ = plugins_json(venv, home)
    good = plugins["good"]
    assert good["loaded"] and good["errors"] == []
    assert (good["distribution"], good["version"], good["module"]) == (
        "pxos-thirdparty-good", "1.2.3", "pxos_thirdparty_good.plugin")
    assert good["registered"] == {"program": ["tp-double"], "storage": ["tp-memory"], "subcommand": ["tp-shout"]}
    assert good["hooks"] == ["pxos_programs", "pxos_storage_backends", "pxos_subcommands"]


def test_installed_plugin_table_lists_it(venv, home):
    done = venv.cli("plugins", home=home)
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("good "))
    assert "pxos-thirdparty-good" in row and "1.2.3" in row and "program: tp-double" in row


def test_its_registrations_work(venv, home):
    done = venv.cli("run", "tp-double", "--", "21", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
    done = venv.cli("tp-shout", "hello", "there", home=home)
    assert (done.returncode, done.stdout) == (0, "HELLO THERE\n"), done.stderr
    (home / "data.txt").write_bytes(b"kept in memory")
    done = venv.cli("storage", "put", str(home / "data.txt"), "tp-memory://a/b", "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert "tp-memory" in venv.cli("storage", "backends", home=home).stdout


def test_runs_of_its_program_are_in_the_ledger(venv, home):
    assert venv.cli("run", "tp-double", "--", "2", home=home).returncode == 0
    done = venv.cli("log", "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert [(r["payload"]["program"], r["payload"]["status"]) for r in json.loads(done.stdout)] == [
        ("tp-double", "ok")]


# -- a plugin that raises at import --------------------------------------------------------


def test_broken_plugin_is_skipped_with_one_warning_naming_it(venv, home):
    plugins, done = plugins_json(venv, home)
    broken = plugins["broken"]
    assert not broken["loaded"]
    assert broken["errors"] == ["failed to import pxos_thirdparty_broken.plugin: "
                                "RuntimeError: this plugin is broken on purpose"]
    assert warnings_about(done.stderr, "broken") == [
        "pxos-kernel: warning: plugin 'broken' (pxos-thirdparty-broken 1.2.3) skipped: failed to import "
        "pxos_thirdparty_broken.plugin: RuntimeError: this plugin is broken on purpose"]


def test_cli_still_works_beside_a_broken_plugin(venv, home):
    done = venv.cli("run", "hello", home=home)
    assert done.returncode == 0 and "Hello, world" in done.stdout
    assert len(warnings_about(done.stderr, "broken")) == 1


def test_strict_plugins_makes_a_broken_plugin_fatal(venv, home):
    done = venv.cli("run", "hello", home=home, env={"PXOS_STRICT_PLUGINS": "1", "PXOS_PLUGINS": "good,broken"})
    assert done.returncode != 0 and "Hello" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pxos-kernel: error: plugin 'broken' (pxos-thirdparty-broken 1.2.3) skipped")
    assert "RuntimeError: this plugin is broken on purpose" in lines[0] and "PXOS_STRICT_PLUGINS" in lines[0]


def test_strict_plugins_with_only_good_plugins_works(venv, home):
    done = venv.cli("run", "tp-double", "--", "5", home=home,
                    env={"PXOS_STRICT_PLUGINS": "1", "PXOS_PLUGINS": "good"})
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "10", "")


# -- choosing plugins --------------------------------------------------------------------------


def test_pxos_plugins_loads_only_those(venv, home):
    plugins, done = plugins_json(venv, home, PXOS_PLUGINS="good")
    assert done.stderr == ""
    loaded = sorted(name for name, p in plugins.items() if p["loaded"])
    assert loaded == ["good", "kernel"]
    assert plugins["broken"]["errors"] == ["not loaded: deselected by PXOS_PLUGINS / PXOS_DISABLE_PLUGINS"]
    assert json.loads(done.stdout)["problems"] == []


def test_pxos_plugins_accepts_distribution_names(venv, home):
    plugins, _ = plugins_json(venv, home, PXOS_PLUGINS="pxos-thirdparty-good, dup-a")
    assert sorted(name for name, p in plugins.items() if p["loaded"]) == ["dup-a", "good", "kernel"]


def test_pxos_disable_plugins_blocks_those(venv, home):
    plugins, done = plugins_json(venv, home, PXOS_DISABLE_PLUGINS="broken,pxos-thirdparty-dup-b")
    assert warnings_about(done.stderr, "broken") == []
    assert plugins["good"]["loaded"] and plugins["dup-a"]["loaded"]
    assert not plugins["broken"]["loaded"] and not plugins["dup-b"]["loaded"]
    assert not any("dup-check" in p for p in json.loads(done.stdout)["problems"])


def test_disabled_program_is_unknown(venv, home):
    done = venv.cli("run", "tp-double", "--", "1", home=home, env={"PXOS_DISABLE_PLUGINS": "good,broken"})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pxos-kernel: error: unknown program 'tp-double'"), done.stderr


@pytest.mark.parametrize("variable", ["PXOS_PLUGINS", "PXOS_DISABLE_PLUGINS"])
@pytest.mark.parametrize("value", ["good;broken", "good,,broken", "good broken", "-good"])
def test_malformed_plugin_list_is_one_clear_error(venv, home, variable, value):
    done = venv.cli("plugins", home=home, env={variable: value})
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"pxos-kernel: error: {variable}={value!r} is malformed: give comma-separated plugin names, "
        f"e.g. {variable}=pxos-pixelfs,pxos-ledger"]


# -- two plugins registering one name ------------------------------------------------------


def test_duplicate_registration_names_both_plugins(venv, home):
    done = venv.cli("genesis", home=home, env={"PXOS_PLUGINS": "dup-a,dup-b"})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()  # warned when the registry is built, an error when used
    assert len(lines) == 2 and lines[0].startswith("pxos-kernel: warning: guardrail 'dup-check'"), done.stderr
    assert lines[1] == ("pxos-kernel: error: guardrail 'dup-check' is registered by both plugin 'dup-a' "
                        "(pxos-thirdparty-dup-a) and plugin 'dup-b' (pxos-thirdparty-dup-b); uninstall one or "
                        "set PXOS_DISABLE_PLUGINS=dup-b")


def test_duplicate_is_listed_as_a_problem_and_other_families_still_work(venv, home):
    plugins, done = plugins_json(venv, home, PXOS_PLUGINS="dup-a,dup-b,good")
    problems = json.loads(done.stdout)["problems"]
    assert len(problems) == 1 and "pxos-thirdparty-dup-a" in problems[0] and "pxos-thirdparty-dup-b" in problems[0]
    assert problems[0] in plugins["dup-a"]["errors"] and problems[0] in plugins["dup-b"]["errors"]
    done = venv.cli("run", "tp-double", "--", "4", home=home, env={"PXOS_PLUGINS": "dup-a,dup-b,good"})
    assert (done.returncode, done.stdout.strip()) == (0, "8"), done.stderr


def test_disabling_one_duplicate_resolves_the_conflict(venv, home):
    done = venv.cli("genesis", "--json", home=home, env={"PXOS_PLUGINS": "dup-a,dup-b",
                                                          "PXOS_DISABLE_PLUGINS": "dup-b"})
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert [(i["id"], i["status"], i["evidence"]) for i in items] == [("dup-check", "passed", "a")]
