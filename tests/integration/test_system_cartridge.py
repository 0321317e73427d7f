"""pxOS self-hosted: every plugin packed into one system cartridge, tested, promoted, and booted by the shim.

The whole lifecycle runs once per module through the real CLI: ``world pack``
(carrying the pixelfs tests, so that ``world test`` stays short), ``world
register``, ``world test`` in the sandbox, promotion by a named human. Then the
shim boots it on a bare interpreter (``python3 -I -S``) and runs the commands
the issue names; Genesis judges it from inside; a second version is promoted
and rolled back.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "pxos.py"
GREETER = REPO / "plugins" / "pxos-cartridge" / "examples" / "greeter"


def _env(home: Path) -> dict:
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "PXOS_HOME": str(home), "LANG": "C.UTF-8"}


def kernel_cli(home: Path, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """The installed ``pxos-kernel``."""
    done = subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], capture_output=True, text=True,
                          env=_env(home), cwd=home, timeout=timeout)
    return done


def shim(home: Path, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python3 -I -S pxos.py ARGV``: no site-packages at all, the repository not on sys.path."""
    return subprocess.run([sys.executable, "-I", "-S", str(SHIM), *argv], capture_output=True, text=True,
                          env=_env(home), cwd=home, timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("self-hosted")


@pytest.fixture(scope="module")
def system(home) -> dict:
    """A system cartridge of everything installed, registered, tested in the sandbox and promoted."""
    ok(kernel_cli(home, "world", "pack", "-o", str(home / "pxos.pxa"), "--tests", "pxos-pixelfs"))
    record = json.loads(ok(kernel_cli(home, "world", "register", str(home / "pxos.pxa"), "--json",
                                      "--notes", "the first self-hosted pxOS")))
    tested = kernel_cli(home, "world", "test", record["version"], "--json")
    record = json.loads(tested.stdout)
    assert record["tests"]["passed"], record["tests"]
    ok(kernel_cli(home, "world", "promote", record["version"], "--approved-by", "ada",
                  "--reason", "its tests and every guardrail pass"))
    return record


def readme_lines(title: str) -> list[str]:
    """The command lines of the first ``bash`` block under the README's heading ``title``."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split(f"## {title}\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_path_to_a_self_hosted_pxos(tmp_path):
    """The README's two lines, run as written in a fresh home: pack and register, then boot with the shim."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(SHIM, tmp_path / "pxos.py")
    env = dict(_env(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}")
    lines = readme_lines("pxOS in pixels: from an install to a self-hosted pxOS")
    assert len(lines) == 2 and "world pack" in lines[0] and "pxos.py" in lines[1]
    for line in lines:
        done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=900)
        ok(done)
    assert "Hello" in done.stdout and "from pxOS" in done.stdout
    [run] = json.loads(ok(kernel_cli(home, "log", "-n", "1", "--json")))
    # registered, not yet promoted: the system is on trial, so its programs run sandboxed
    assert run["payload"]["sandbox"] is True and run["payload"]["system"].endswith("(not current)")


def test_world_test_ran_the_plugin_tests_from_the_archive_in_the_sandbox(system, home):
    tests = system["tests"]
    assert tests["scope"] == "complete" and [s["distribution"] for s in tests["suites"]] == ["pxos-pixelfs"]
    assert tests["suites"][0]["counts"]["passed"] > 20 and tests["guardrails"]["counts"]["failed"] == 0
    from pxos_kernel import Kernel

    with Kernel(home) as kernel:
        post = kernel.ledger.find(tests["suites"][0]["run_id"])
        pre = kernel.ledger.find(post["payload"]["pre"])
    assert pre["payload"]["sandbox"] is True and post["payload"]["status"] == "ok"
    assert any(path.endswith(".pxa") for path in pre["payload"]["read_only"])  # the archive, read-only


def test_the_shim_boots_everything_from_the_archive(system, home):
    found = json.loads(ok(shim(home, "-m", "pxos_cartridge.probe")))
    archive = found["system"]["archive"]
    assert found["system"]["current"] is True and found["system"]["version"] == system["version"]
    installed = {d for d in json.loads(ok(kernel_cli(home, "plugins", "--json")))["plugins"]
                 for d in [d["distribution"]]}
    assert set(found["plugins"]) == installed  # every installed plugin, loaded from the archive
    assert all(where.startswith(archive + "/") for where in found["modules"].values())
    assert found["world"].startswith(archive + "/")


def test_the_cli_runs_from_the_shim(system, home, tmp_path):
    assert "pxos-genesis" in ok(shim(home, "plugins"))
    assert "sandbox protections" in ok(shim(home, "inspect"))
    assert "Hello, Ada, from pxOS!" in ok(shim(home, "run", "hello", "--", "Ada"))
    assert "Hello, Bo, from pxOS!" in ok(shim(home, "run", "pxos_kernel.programs:hello", "--", "Bo"))
    runs = json.loads(ok(shim(home, "log", "--json", "-n", "2")))
    assert [r["payload"]["sandbox"] for r in runs] == [False, False]  # the current system runs in-process
    assert runs[-1]["payload"]["system"] == f"pxos@{system['version']}"
    ok(shim(home, "ledger", "verify"))
    (tmp_path / "note.txt").write_text("kept in pixels")
    ok(shim(home, "storage", "put", str(tmp_path / "note.txt"), "pixelfs://notes/n1"))
    assert "notes/n1" in ok(shim(home, "storage", "ls", "pixelfs://notes/"))
    assert ok(shim(home, "storage", "get", "pixelfs://notes/n1")) == "kept in pixels"
    ok(shim(home, "cartridge", "pack", str(GREETER), "-o", str(tmp_path / "g.pxa")))
    ok(shim(home, "cartridge", "register", str(tmp_path / "g.pxa")))
    assert "greeter" in ok(shim(home, "cartridge", "list"))
    ok(shim(home, "boot", "build", "-o", str(tmp_path / "boot.img")))
    assert (tmp_path / "boot.img").stat().st_size == 512
    # pxos-scaffold's templates are package data: read through importlib.resources from inside the archive
    made = json.loads(ok(shim(home, "plugin", "new", "my-store", "--kind", "storage", "-o", str(tmp_path / "s"),
                              "--json")))
    assert "my_store/store.py" in made["files"] and (tmp_path / "s" / "my_store" / "store.py").is_file()


def test_a_feature_that_needs_numpy_says_so_in_one_line(system, home):
    done = shim(home, "storage", "show", "pixelfs://notes/n1", "-o", "preview.png")
    if done.returncode == 0:
        pytest.skip("this system carries numpy")  # never in a pure-Python pack; kept honest if that changes
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs numpy" in lines[0] and "world pack --native" in lines[0]


def test_a_native_system_generates_text_from_the_shim_with_nothing_installed(tmp_path):
    """world pack --native carries numpy and the other compiled wheels; the shim extracts them, checked, once."""
    home = tmp_path / "home"
    home.mkdir()
    ok(kernel_cli(home, "world", "pack", "--native", "--plugins", "pxos-pixellm", "--no-tests",
                  "-o", str(home / "native.pxa")))
    ok(kernel_cli(home, "world", "register", str(home / "native.pxa")))
    text = ok(shim(home, "--world", str(home / "native.pxa"), "model", "generate", "def ", "--max-tokens", "8"))
    assert text.strip()
    cached = list((home / "cache" / "native").glob("*/*/numpy/__init__.py"))
    assert len(cached) == 1, "numpy was not loaded from the archive's native bundle"


def test_genesis_on_the_self_hosted_system_has_nothing_failed(system, home):
    report = json.loads(shim(home, "genesis", "--json").stdout)
    by_id = {i["id"]: i for i in report["items"]}
    assert report["counts"]["failed"] == 0, [(i, by_id[i]["evidence"]) for i in by_id if by_id[i]["status"] == "failed"]
    by_id = {i["id"]: i for i in report["items"]}
    assert "declared use" in by_id["G8.2"]["evidence"] and "pxos_cartridge/boot.py" in by_id["G8.2"]["evidence"]
    assert by_id["G1.4"]["status"] == "passed" and by_id["G2.4"]["status"] == "passed"
    assert by_id["G2.2"]["status"] == "passed" and by_id["G6.1"]["status"] == "passed"
    unchecked = {i for i, item in by_id.items() if item["status"] == "unchecked"}
    assert unchecked <= {"G5.1", "G5.2", "G5.3", "G8.4", "G9.2", "G9.3", "G9.4", "G11.1", "G11.2", "G12.1", "G12.3"}


def test_promotion_and_rollback_switch_what_the_shim_boots(system, home, tmp_path):
    from pxos_cartridge.archive import open_archive, pack_members

    original = open_archive(home / "pxos.pxa")
    files = {m.path: (original.read(m.path), m.mode) for m in original.members.values()}
    program = "site-packages/pxos_kernel/programs.py"
    files[program] = (files[program][0].replace(b"from pxOS!", b"from pxOS, second edition!"), 0o644)
    manifest = {**original.manifest, "version": system["version"] + ".2"}
    pack_members(tmp_path / "v2.pxa", files, {"cartridge": manifest, "system": original.metadata["system"]})
    ok(kernel_cli(home, "world", "register", str(tmp_path / "v2.pxa"), "--notes", "a friendlier hello"))
    assert json.loads(ok(kernel_cli(home, "world", "test", manifest["version"], "--json")))["tests"]["passed"]
    ok(kernel_cli(home, "world", "promote", manifest["version"], "--approved-by", "ada", "--reason", "friendlier"))
    assert "second edition" in ok(shim(home, "run", "hello"))
    ok(kernel_cli(home, "world", "rollback", "--approved-by", "ada", "--reason", "keep the classic greeting"))
    again = ok(shim(home, "run", "hello"))
    assert "from pxOS!" in again and "second edition" not in again
    history = json.loads(ok(kernel_cli(home, "world", "history", "--json")))
    assert [h["action"] for h in history if h["outcome"] == "done"][-2:] == ["promote", "rollback"]
    lineage = json.loads(ok(kernel_cli(home, "world", "lineage", manifest["version"], "--json")))
    assert [r["version"] for r in lineage] == [system["version"], manifest["version"]]


def test_two_concurrent_promotions_one_wins_under_the_lock(system, home):
    versions = [r["version"] for r in json.loads(ok(kernel_cli(home, "world", "list", "--json")))
                if r["tests"] and r["tests"]["passed"] and r["status"] != "current"]
    assert versions, "the previous test leaves a tested version that is not current"
    lock = open(home / "cartridges" / "registry.lock", "a+b")
    fcntl.flock(lock, fcntl.LOCK_EX)  # both decide while we hold the lock; both then wait for it
    try:
        racers = [subprocess.Popen([sys.executable, "-m", "pxos_kernel", "world", "promote", version,
                                    "--approved-by", who, "--reason", "race"], env=_env(home), cwd=home,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for version, who in ((versions[0], "ada"), (versions[0], "bob"))]
        time.sleep(3)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    results = [(p.wait(timeout=120), p.stderr.read()) for p in racers]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    loser = next(err for code, err in results if code)
    assert "another promote won" in loser and len(loser.strip().splitlines()) == 1
