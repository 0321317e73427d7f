"""The system cartridge: ``world pack``, the boot shim on a bare interpreter, and the registry of systems.

The installed system is packed once per session; each test that changes an
archive copies it first. Every run of the shim is a real child interpreter
started with ``-I`` (and ``-S`` or a bare venv where the test is about the
host's site-packages), with its own ``PXOS_HOME``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from pxos_cartridge import boot
from pxos_cartridge.archive import open_archive, pack_members
from pxos_cartridge.errors import PackError, PromotionRefused, RegistryError
from pxos_cartridge.system import pack_system, shim_source, stage
from pxos_cartridge.world import SystemRegistry

REPO = Path(__file__).resolve().parents[3]
SHIM = Path(boot.__file__)


@pytest.fixture(scope="session")
def packed(tmp_path_factory) -> Path:
    """The installed system (this environment's plugins), packed once, without tests."""
    path = tmp_path_factory.mktemp("system") / "pxos.pxa"
    pack_system(path, tests=False)
    return path


@pytest.fixture
def systems(kernel):
    return SystemRegistry(kernel)


def run_shim(home: Path, *argv: str, python: str = sys.executable, flags=("-I",), env=None):
    """``python -I pxos.py ARGV`` in a clean environment: nothing but PATH, HOME, PXOS_HOME and LANG."""
    environment = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "PXOS_HOME": str(home),
                   "LANG": "C.UTF-8", **(env or {})}
    return subprocess.run([python, *flags, str(SHIM), *argv], capture_output=True, text=True, env=environment,
                          cwd=home, timeout=180)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- packing -----------------------------------------------------------------------------------------


def test_the_same_installed_tree_packs_to_the_same_bytes(packed, tmp_path):
    again = tmp_path / "again.pxa"
    pack_system(again, tests=False)
    assert again.read_bytes() == packed.read_bytes()


def test_every_distribution_has_a_real_dist_info(packed):
    archive = open_archive(packed)
    system = archive.metadata["system"]
    names = {d["name"].lower() for d in system["distributions"]}
    assert {"pxos-kernel", "pxos-cartridge", "pxos-pixelfs", "pluggy", "pyyaml", "platformdirs"} <= names
    for dist in system["distributions"]:
        assert dist["version"] and len(dist["sha256"]) == 64 and dist["files"] > 1
    members = archive.names()
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]
    assert {m.mode for m in archive.members.values()} <= {0o644, 0o755}
    info = next(m for m in members if m.startswith("site-packages/pxos_cartridge-") and m.endswith(".dist-info/RECORD"))
    base = info[:-len("RECORD")]
    assert {base + n for n in ("METADATA", "entry_points.txt", "top_level.txt", "RECORD")} <= set(members)
    assert "cartridge = pxos_cartridge.plugin" in archive.read(base + "entry_points.txt").decode()
    # RECORD lists every staged file of the distribution with the hash of its staged bytes.
    import base64

    for line in archive.read(info).decode().splitlines():
        path, digest, size = line.split(",")
        if digest:
            data = archive.read("site-packages/" + path)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
    assert "site-packages/pxos_kernel/manifests/world.yaml" in members  # package data of an editable install


def test_native_distributions_are_left_out_with_the_reason(packed):
    missing = {m["name"]: m for m in open_archive(packed).metadata["system"]["missing"]}
    assert "numpy" in missing and "pxos-pixelfs" in missing["numpy"]["required_by"]
    assert "native" in missing["numpy"]["reason"] and "world pack --native" in missing["numpy"]["reason"]
    assert missing["numpy"]["top_level"] == ["numpy"]


def test_a_file_that_cannot_be_read_refuses_the_pack_and_writes_nothing(tmp_path, monkeypatch, pxos_cli):
    real = Path.read_bytes
    victim = Path(boot.__file__).resolve().parent / "archive.py"

    def read_bytes(self):
        if self.resolve() == victim:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, out, err = pxos_cli("world", "pack", "-o", str(tmp_path / "x.pxa"), "--no-tests")
    assert code == 1 and "reading" in one_line(err) and str(victim) in err and "Permission denied" in err
    assert not (tmp_path / "x.pxa").exists() and not list(tmp_path.glob(".x.pxa*"))


def test_symlinks_are_stored_as_their_targets_and_linked_directories_refused(tmp_path):
    from pxos_cartridge.system import _walk

    tree = tmp_path / "pkg"
    (tree / "real").mkdir(parents=True)
    (tree / "real" / "a.txt").write_text("A")
    (tree / "link.txt").symlink_to(tree / "real" / "a.txt")
    assert dict(_walk(tree, "demo"))["link.txt"].read_text() == "A"
    (tree / "linked-dir").symlink_to(tree / "real")
    with pytest.raises(PackError, match="linked-dir is a symbolic link to a directory"):
        list(_walk(tree, "demo"))
    (tree / "linked-dir").unlink()
    (tree / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(PackError, match="dangling is a dangling symbolic link"):
        list(_walk(tree, "demo"))


# -- the shim ---------------------------------------------------------------------------------------


def test_pxos_py_at_the_repository_root_is_the_boot_module(pxos_cli, tmp_path):
    assert (REPO / "pxos.py").read_bytes() == shim_source() == SHIM.read_bytes(), \
        "pxos.py and pxos_cartridge/boot.py differ: copy plugins/pxos-cartridge/pxos_cartridge/boot.py to pxos.py"
    code, out, _ = pxos_cli("world", "pack", "--shim", str(tmp_path))
    assert code == 0 and (tmp_path / "pxos.py").read_bytes() == shim_source()
    assert (tmp_path / "pxos.py").stat().st_mode & 0o111


@pytest.mark.parametrize("xdg", [{}, {"XDG_DATA_HOME": ""}, {"XDG_DATA_HOME": "/srv/data"},
                                 {"XDG_DATA_HOME": "relative/data"}])
def test_the_shim_and_the_kernel_find_the_same_default_home(xdg):
    from pxos_kernel import Kernel

    assert Path(boot.home_dir(xdg)) == Kernel(env=xdg, load_plugins=False).home


def test_the_shim_is_standard_library_only():
    import ast

    stdlib = set(sys.stdlib_module_names)
    for node in ast.walk(ast.parse(shim_source())):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] in stdlib for a in node.names), ast.dump(node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module.split(".")[0] in stdlib or node.module.startswith("pxos_kernel"), node.module


def _register(systems, archive: Path) -> dict:
    return systems.register(archive, notes="a test system")


def test_everything_comes_from_the_archive_on_an_interpreter_without_site(systems, packed, pxos_home):
    record = _register(systems, packed)
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "-m", "pxos_cartridge.probe",
                    flags=("-I", "-S"))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    stored = str(systems.archive_path(record["version"]))
    assert found["system"]["archive"] == stored and found["system"]["current"] is False
    assert {"pxos_kernel.core", "pxos_cartridge.plugin", "pluggy", "yaml"} <= set(found["modules"])
    assert found["world"].startswith(stored + "/site-packages/pxos_kernel/manifests/")  # importlib.resources
    assert all(where.startswith(stored + "/") for where in found["modules"].values()), found["modules"]
    assert {"pxos-kernel", "pxos-cartridge", "pxos-pixelfs"} <= set(found["plugins"])
    assert {"pxos-kernel", "pluggy", "PyYAML"} <= set(found["distributions"])
    assert all(stored in p or "python3" in p for p in found["path"] if p)  # nothing but the stdlib on sys.path


def test_a_bare_venv_runs_the_cli_from_the_archive(systems, packed, pxos_home, tmp_path):
    record = _register(systems, packed)
    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(bare)
    python = str(bare / "bin" / "python")
    assert subprocess.run([python, "-I", "-c", "import pluggy"], capture_output=True).returncode != 0
    world = ("--world", f"pxos@{record['version']}")
    done = run_shim(pxos_home, *world, "plugins", python=python)
    assert done.returncode == 0, done.stderr
    assert "pxos-cartridge" in done.stdout and "pxos-pixelfs" in done.stdout
    done = run_shim(pxos_home, *world, "run", "hello", "--", "Ada", python=python)
    assert done.returncode == 0 and "Hello, Ada, from pxOS!" in done.stdout, done.stderr
    log = run_shim(pxos_home, *world, "log", "--json", python=python)
    last = json.loads(log.stdout)[-1]["payload"]
    assert last["program"] == "hello" and last["sandbox"] is True  # a system that is not current: sandboxed
    assert last["system"] == f"pxos@{record['version']} (not current)"
    assert run_shim(pxos_home, *world, "ledger", "verify", python=python).returncode == 0


def test_compiled_code_is_cached_and_a_damaged_cache_entry_is_compiled_again(systems, packed, pxos_home):
    record = _register(systems, packed)
    world = ("--world", f"pxos@{record['version']}")
    assert run_shim(pxos_home, *world, "--version").returncode == 0
    cached = sorted((pxos_home / "cache" / "bytecode").rglob("*"))
    entries = [p for p in cached if p.is_file()]
    assert entries and (pxos_home / "cache" / "payloads").is_dir()
    entries[0].write_bytes(b"\0" * 40)  # its sha256 no longer matches: ignored, recompiled, rewritten
    done = run_shim(pxos_home, *world, "plugins")
    assert done.returncode == 0, done.stderr
    assert entries[0].read_bytes() != b"\0" * 40


# -- bad input: one line, nothing run --------------------------------------------------------------------


def _ledger_size(home: Path) -> int:
    path = home / "ledger" / "ledger.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_an_archive_modified_after_registration_is_refused_before_anything_runs(systems, packed, pxos_home):
    record = _register(systems, packed)
    stored = systems.archive_path(record["version"])
    before = _ledger_size(pxos_home)
    os.chmod(stored, 0o644)
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0x01  # inside IEND's neighbourhood: a valid PNG structure is not enough
    stored.write_bytes(bytes(data))
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "plugins")
    line = one_line(done.stderr)
    assert done.returncode == 1 and line.startswith("pxos.py: error: ")
    assert "CRC" in line or "does not match the registered" in line
    assert _ledger_size(pxos_home) == before and done.stdout == ""


def test_a_rewritten_archive_with_valid_chunks_is_caught_by_its_sha256(systems, packed, pxos_home, tmp_path):
    record = _register(systems, packed)
    stored = systems.archive_path(record["version"])
    archive = open_archive(packed)
    files = {m.path: (archive.read(m.path), m.mode) for m in archive.members.values()}
    files["site-packages/pxos_kernel/programs.py"] = (b"print('not what was registered')\n", 0o644)
    os.chmod(stored, 0o644)
    pack_members(stored, files, {k: v for k, v in archive.metadata.items()
                                 if k in ("cartridge", "system")})
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "run", "hello")
    assert "does not match the registered" in one_line(done.stderr) and "nothing from it was run" in done.stderr
    assert "not what was registered" not in done.stdout


@pytest.mark.parametrize("damage, expected", [
    (lambda data: data[: len(data) // 2], "truncated PNG"),
    (lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:], "CRC"),
    (lambda data: b"GIF89a" + data[6:], "not a PNG file"),
])
def test_a_corrupted_or_truncated_png_is_one_line(packed, pxos_home, tmp_path, damage, expected):
    bad = tmp_path / "bad.pxa"
    bad.write_bytes(damage(packed.read_bytes()))
    done = run_shim(pxos_home, "--world", str(bad), "--sha256", "0" * 64, "plugins")
    assert done.returncode == 1 and expected in one_line(done.stderr)


def test_an_unregistered_file_is_refused(packed, pxos_home):
    done = run_shim(pxos_home, "--world", str(packed), "plugins")
    assert "is not a registered system cartridge" in one_line(done.stderr)


def test_no_current_system_is_one_line(pxos_home):
    done = run_shim(pxos_home, "plugins")
    assert done.returncode == 1 and "no current system cartridge" in one_line(done.stderr)


def _crafted(source: Path, dest: Path, *, members=None, system=None) -> Path:
    """A copy of ``source`` with members added or replaced and system metadata changed."""
    archive = open_archive(source)
    files = {m.path: (archive.read(m.path), m.mode) for m in archive.members.values()}
    files.update(members or {})
    manifest = {**archive.manifest, "version": f"{archive.manifest['version']}.{dest.stem}"}
    meta = {"cartridge": manifest, "system": {**archive.metadata["system"], **(system or {})}}
    pack_members(dest, files, meta)
    return dest


def test_an_unknown_python_version_is_one_line(systems, packed, pxos_home, tmp_path):
    python = {"requires_min": [3, 99], "packed_with": "3.99.0", "implementation": "cpython"}
    record = _register(systems, _crafted(packed, tmp_path / "future.pxa", system={"python": python}))
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "plugins")
    assert "needs Python 3.99 or later" in one_line(done.stderr) and done.returncode == 1


def test_a_native_bundle_for_another_platform_is_one_line(systems, packed, pxos_home, tmp_path):
    module = b"VALUE = 42\n"
    bundle = {"name": "fakenative", "version": "1.0", "prefix": "native/fakenative/", "top_level": ["fakenative"],
              "sha256": "0" * 64, "tag": ".cpython-299-sparc64-plan9.so"}
    crafted = _crafted(packed, tmp_path / "native.pxa", members={"native/fakenative/fakenative.py": (
        module, 0o644)}, system={"native": {"tag": bundle["tag"], "bundles": [bundle]}})
    record = _register(systems, crafted)
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "-m", "fakenative")
    last = done.stderr.strip().splitlines()[-1]
    assert "was built for .cpython-299-sparc64-plan9.so and cannot load into this interpreter" in last
    assert "world pack --native" in last


def test_a_native_bundle_is_extracted_once_verified_and_imported(systems, packed, pxos_home, tmp_path):
    bundle = {"name": "fakenative", "version": "1.0", "prefix": "native/fakenative/", "top_level": ["fakenative"],
              "sha256": "ab" * 32, "tag": boot.native_tag()}
    crafted = _crafted(packed, tmp_path / "native.pxa", members={"native/fakenative/fakenative.py": (
        b"print('native bundle imported from', __file__)\n", 0o644)},
        system={"native": {"tag": bundle["tag"], "bundles": [bundle]}})
    record = _register(systems, crafted)
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "-m", "fakenative")
    where = pxos_home / "cache" / "native" / boot.native_tag().strip(".") / bundle["sha256"]
    assert done.returncode == 0 and f"imported from {where}/fakenative.py" in done.stdout, done.stderr
    (where / "fakenative.py").write_text("print('tampered')\n")  # caught: re-extracted
    done = run_shim(pxos_home, "--world", f"pxos@{record['version']}", "-m", "fakenative")
    assert "tampered" not in done.stdout and "native bundle imported" in done.stdout


def test_a_plugin_in_the_archive_that_fails_to_import_is_skipped_or_fatal(systems, packed, pxos_home, tmp_path):
    info = "site-packages/broken_plugin-1.0.dist-info/"
    crafted = _crafted(packed, tmp_path / "broken.pxa", members={
        "site-packages/broken_plugin.py": (b"raise RuntimeError('this plugin is broken')\n", 0o644),
        info + "METADATA": (b"Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n", 0o644),
        info + "entry_points.txt": (b"[pxos]\nbroken = broken_plugin\n", 0o644)})
    record = _register(systems, crafted)
    world = ("--world", f"pxos@{record['version']}")
    done = run_shim(pxos_home, *world, "plugins")
    assert done.returncode == 0
    warning = one_line(done.stderr)
    assert "plugin 'broken' (broken-plugin 1.0) skipped" in warning and "this plugin is broken" in warning
    done = run_shim(pxos_home, *world, "plugins", env={"PXOS_STRICT_PLUGINS": "1"})
    assert done.returncode != 0 and "PXOS_STRICT_PLUGINS" in one_line(done.stderr)


# -- the registry of systems ---------------------------------------------------------------------------


def test_only_system_cartridges_register_as_systems(systems, greeter_tree, tmp_path, pxos_cli):
    from pxos_cartridge.archive import pack_tree

    pack_tree(greeter_tree, tmp_path / "g.pxa")
    with pytest.raises(RegistryError, match="not a system cartridge"):
        systems.register(tmp_path / "g.pxa")
    code, _, err = pxos_cli("cartridge", "register", str(tmp_path / "g.pxa"), "--name", "pxos")
    assert code == 1 and "reserved name: use 'pxos-kernel world register'" in one_line(err)


def test_world_commands_list_show_and_refuse_an_untested_promotion(systems, packed, pxos_cli):
    code, out, _ = pxos_cli("world", "register", str(packed), "--notes", "first self-hosted build")
    assert code == 0 and "registered pxos@" in out
    version = systems.list()[0]["version"]
    code, out, _ = pxos_cli("world", "list", "--json")
    assert [r["version"] for r in json.loads(out)] == [version]
    code, out, _ = pxos_cli("world", "show")
    assert code == 0 and "first self-hosted build" in out and "not carried" in out and "numpy" in out
    assert "benchmarks" in out
    code, _, err = pxos_cli("world", "promote", version, "--approved-by", "ada", "--reason", "ship it")
    assert code != 0 and "it has never been tested" in one_line(err)
    code, _, err = pxos_cli("world", "promote", version, "--approver", "llm", "--approved-by", "bot", "--reason", "x")
    assert code != 0 and "only a named human may promote" in one_line(err)
    code, out, _ = pxos_cli("world", "history", "--json")
    assert [h["outcome"] for h in json.loads(out)] == ["done", "refused"]


def test_benchmark_figures_are_kept_and_shown(systems, packed, pxos_cli):
    record = _register(systems, packed)
    systems.record_benchmarks(record["version"], {"plugins cold start": {"this": "0.21 s", "parent": "0.20 s"}})
    code, out, _ = pxos_cli("world", "show", record["version"])
    assert "bench plugins cold start" in out and "parent 0.20 s" in out


def test_a_promotion_decided_against_a_stale_current_is_refused(systems, packed, tmp_path):
    """Of two promotions decided at once, the second to take the lock finds current changed and is refused."""
    first = _register(systems, packed)
    second = _register(systems, _crafted(packed, tmp_path / "b.pxa", members={"site-packages/extra.txt": (b"b", 0o644)}))
    for record in (first, second):
        systems.cartridges.record_tests("pxos", record["version"], {
            "passed": True, "sha256": record["sha256"], "run_id": None, "status": "ok", "exit_code": 0, "counts": {},
            "guardrails": {"counts": {"failed": 0}}},
                                      "a passing run recorded directly (world test itself: tests/integration)")
    systems.promote(first["version"], approved_by="ada", reason="first", expected_current=None)
    with pytest.raises(PromotionRefused, match="current version changed to .* another promote won"):
        systems.promote(second["version"], approved_by="bob", reason="second", expected_current=None)
    assert systems.current()["version"] == first["version"]
    assert systems.history()[-1]["outcome"] == "refused"


def test_stage_names_what_it_cannot_pack(tmp_path):
    with pytest.raises(Exception, match="not installed"):
        stage(["no-such-plugin"])
