"""``pxos-kernel plugin new``: what it refuses, and that every kind's skeleton works.

The skeleton tests are the real thing: each skeleton is written, pip-installed
into a venv, its own test suite is run there (it must pass), and
``pxos-kernel plugins --json`` in that venv must list it with its registration.
The plugin of the authoring guide (docs/authoring.md) goes through the same.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from pxos_kernel.testing import PluginVenv
from pxos_scaffold import KINDS, write_skeleton

DOCS = Path(__file__).resolve().parents[3] / "docs"
GUIDE = DOCS / "authoring.md"
# docs/testing.md shows conformance tests for skeletons of these names.
DOC_NAMES = {"storage": "my-store", "sink": "my-sink", "inference": "my-engine", "agent": "my-agent"}

# In the docs, a code block that is a whole file follows a line **`path`**.
FILE_BLOCK = re.compile(r"^\*\*`(?P<path>[^`]+)`\*\*\s*\n+```[a-z]*\n(?P<body>.*?)^```", re.S | re.M)


def doc_files(doc: Path) -> dict[str, str]:
    """The files shown in ``doc``, by path."""
    return {m["path"]: m["body"] for m in FILE_BLOCK.finditer(doc.read_text(encoding="utf-8"))}


# -- refusals: one clear line, nothing written -------------------------------------------


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pxos-kernel: error: ")
    return lines[0]


def test_unknown_kind_is_refused(pxos_cli, tmp_path):
    code, out, err = pxos_cli("plugin", "new", "my-thing", "--kind", "database", "-o", str(tmp_path / "x"))
    assert code == 1
    assert "unknown plugin kind 'database'" in error_line(err) and "storage" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", ["My-Store", "my_store", "9lives", "my--store", "store-", "a b", "json", "class"])
def test_invalid_name_is_refused(pxos_cli, tmp_path, name):
    (tmp_path / "work").mkdir()
    code, out, err = pxos_cli("plugin", "new", name, "--kind", "storage", "-o", str(tmp_path / "work" / "x"))
    assert code == 1
    assert f"plugin name {name!r} is invalid" in error_line(err)
    assert list((tmp_path / "work").iterdir()) == []


def test_non_empty_target_is_refused_and_kept(pxos_cli, tmp_path):
    target = tmp_path / "work" / "taken"
    target.mkdir(parents=True)
    (target / "precious.txt").write_text("mine")
    code, out, err = pxos_cli("plugin", "new", "my-store", "--kind", "storage", "-o", str(target))
    assert code == 1
    assert "directory is not empty" in error_line(err) and str(target) in err
    assert [p.name for p in target.iterdir()] == ["precious.txt"]
    assert [p.name for p in target.parent.iterdir()] == ["taken"]  # no staging directory left behind


def test_target_that_is_a_file_is_refused(pxos_cli, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, err = pxos_cli("plugin", "new", "my-store", "--kind", "storage", "-o", str(tmp_path / "file"))
    assert code == 1 and "is not a directory" in error_line(err)


def test_unwritable_target_is_one_clear_error(pxos_cli, tmp_path):
    (tmp_path / "file").write_text("x")
    code, out, err = pxos_cli("plugin", "new", "my-store", "--kind", "storage", "-o", str(tmp_path / "file" / "sub"))
    assert code == 1 and "cannot write plugin 'my-store' into" in error_line(err)


def test_empty_target_directory_is_used(pxos_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = pxos_cli("plugin", "new", "my-store", "--kind", "storage", "-o", str(tmp_path / "empty"))
    assert code == 0, err
    assert (tmp_path / "empty" / "my_store" / "store.py").is_file()


def test_default_target_is_the_name(pxos_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = pxos_cli("plugin", "new", "my-sink", "--kind", "sink")
    assert code == 0, err
    assert (tmp_path / "my-sink" / "pyproject.toml").is_file() and str(tmp_path / "my-sink") in out


@pytest.mark.parametrize("kind", list(KINDS))
def test_skeleton_layout(tmp_path, kind):
    name = f"my-{kind}"
    root = write_skeleton(name, kind, tmp_path / name)
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == name and "pxos-kernel>=0.1.0" in project["dependencies"]
    assert project["entry-points"]["pxos"] == {name: f"my_{kind}.plugin"}
    assert project["optional-dependencies"]["test"] == ["pytest"]
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {"README.md", "pyproject.toml", f"my_{kind}/__init__.py", f"my_{kind}/plugin.py",
            "tests/conftest.py", "tests/test_plugin.py"} <= files
    assert not any(f.endswith((".tmpl", ".part")) for f in files)
    for path in root.rglob("*"):  # every placeholder was filled in
        if path.suffix in (".py", ".toml", ".md"):
            assert not re.search(r"\$[a-z{]", path.read_text().replace("$PWD", "").replace("${PXOS_HOME", "")
                                 .replace("$HOME", "")), path
    readme = (root / "README.md").read_text()
    assert f"# {name}" in readme and "## Use it" in readme and "pip install -e" in readme


# -- every kind, installed and tested in a venv ------------------------------------------


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return PluginVenv(tmp_path_factory.mktemp("scaffold") / "venv")


def install_and_test(venv: PluginVenv, project: Path, work: Path) -> str:
    """pip install ``project`` into ``venv`` and run its own tests there; they must pass. Returns the report."""
    venv.install(project)
    home = work / "home"
    home.mkdir()
    done = venv.pytest(project, work / "basetemp", home)
    assert done.returncode == 0, f"{project.name}'s own tests failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-2000:]
    return done.stdout


def listed_plugin(venv: PluginVenv, name: str, home: Path) -> dict:
    """``pxos-kernel plugins --json`` in the venv, with every installed plugin; ``name``'s entry."""
    done = venv.cli("plugins", "--json", home=home)
    assert done.returncode == 0, done.stderr
    plugins = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    assert name in plugins, sorted(plugins)
    return plugins[name]


@pytest.mark.parametrize("kind", list(KINDS))
def test_skeleton_installs_and_passes_its_own_tests(venv, tmp_path, kind):
    name = DOC_NAMES.get(kind, f"my-{kind}")
    root = write_skeleton(name, kind, tmp_path / name)
    examples = [path for path in doc_files(DOCS / "testing.md") if path.startswith(f"{name}/")]
    report = install_and_test(venv, root, tmp_path)
    for path in examples:  # docs/testing.md's example is this skeleton's own test file
        assert re.search(rf"^{re.escape(path.split('/', 1)[1])}::\S+ PASSED", report, re.M), report[-3000:]
    mine = listed_plugin(venv, name, tmp_path / "home")
    assert mine["loaded"] and mine["errors"] == [] and mine["distribution"] == name
    assert mine["registered"] == {kind: [name]}


# -- the authoring guide's plugin ------------------------------------------------------------

SKELETON_TESTS = {"storage": "test_store.py", "sink": "test_sink.py", "inference": "test_engine.py",
                  "agent": "test_agent.py"}


def test_testing_doc_shows_each_skeletons_own_test_file(tmp_path):
    shown = doc_files(DOCS / "testing.md")
    assert set(shown) == {f"{DOC_NAMES[kind]}/tests/{f}" for kind, f in SKELETON_TESTS.items()}
    for kind, test_file in SKELETON_TESTS.items():
        name = DOC_NAMES[kind]
        root = write_skeleton(name, kind, tmp_path / name)
        assert shown[f"{name}/tests/{test_file}"] == (root / "tests" / test_file).read_text(encoding="utf-8")


def test_guide_shows_a_complete_plugin():
    files = doc_files(GUIDE)
    assert {"pxos-greeter/pyproject.toml", "pxos-greeter/pxos_greeter/__init__.py",
            "pxos-greeter/pxos_greeter/plugin.py", "pxos-greeter/pxos_greeter/greet.py",
            "pxos-greeter/tests/test_greeter.py"} <= set(files)


def test_guide_plugin_installs_runs_and_passes_its_tests(venv, tmp_path):
    for path, body in doc_files(GUIDE).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    install_and_test(venv, tmp_path / "pxos-greeter", tmp_path)
    home = tmp_path / "home"
    mine = listed_plugin(venv, "greeter", home)
    assert mine["loaded"] and mine["registered"] == {"program": ["greet"], "subcommand": ["greet"]}
    done = venv.cli("greet", "Ada", "--shout", home=home, env={"PXOS_PLUGINS": "greeter"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "HELLO, ADA!\n"
    done = venv.cli("run", "greet", "--", "Grace", home=home, env={"PXOS_PLUGINS": "greeter"})
    assert done.returncode == 0, done.stderr
    assert "Hello, Grace!" in done.stdout


def test_json_reports_what_was_written(pxos_cli, tmp_path):
    target = tmp_path / "my-sink"
    code, out, err = pxos_cli("plugin", "new", "my-sink", "--kind", "sink", "-o", str(target), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert {k: result[k] for k in ("name", "kind", "package", "path")} == {
        "name": "my-sink", "kind": "sink", "package": "my_sink", "path": str(target)}
    assert result["files"] == sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert "my_sink/sink.py" in result["files"] and result["summary"] == KINDS["sink"]
    assert result["next"][0] == f"pip install -e '{target}[test]'"


def test_the_command_comes_from_pxos_scaffold(pxos_kernel):
    registry = pxos_kernel.registry("subcommand")
    assert pxos_kernel.plugins.info[registry.owner("plugin new")].distribution == "pxos-scaffold"
