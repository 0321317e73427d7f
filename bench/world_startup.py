"""The system cartridge against the installed pxOS, a zipapp and a shiv of the same packages.

    python bench/world_startup.py [--rounds N] [--home DIR]

Measured side by side in one run, the candidates alternating round by round:

* start-up: ``python3 -I -S pxos.py plugins`` (booted from the current system
  cartridge, nothing pip-installed on the path) against the installed
  ``pxos-kernel plugins``; beside them the archive's packages as a
  ``python -m zipapp`` archive and as a ``shiv`` (which unpacks itself into a
  cache once, as PEX does). Target: shim at most 1.3x installed.
* ``run hello``: from the shim against the installed one. Target: at most 1.3x.
* ``world pack``: time and size against ``python -m zipapp --compress`` of the
  same files (every member of the packed archive, staged on disk). Targets:
  time at most 1.5x, size at most 1.05x. zipapp is handed the staged tree;
  ``world pack`` also finds the installed distributions and stages them.

Without ``--home``, a fresh PXOS_HOME is made: the installed system is packed
(carrying the pxos-pixelfs tests), registered, tested by ``world test`` (that
suite in the sandbox and every guardrail, a few minutes) and promoted ("bench", in the name of the user who
runs it). With ``--home DIR``, that home's current system is used. shiv is
installed with pip into a private virtual environment of the bench.
"""

from __future__ import annotations

import argparse
import getpass
import json
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from _timing import child_env, command, interleaved, median, verdict

REPO = Path(__file__).resolve().parents[1]
SHIM = REPO / "pxos.py"


def installed_cli() -> list[str]:
    """The installed console script, as a user runs it (``python -m pxos_kernel`` where there is none)."""
    script = Path(sys.executable).with_name("pxos-kernel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pxos_kernel"]


def kernel(home: Path, *argv: str) -> str:
    """Run the installed CLI in ``home``; a failure ends the bench with its last lines."""
    done = subprocess.run([*installed_cli(), *argv], env=child_env(PXOS_HOME=str(home)), capture_output=True,
                          text=True)
    if done.returncode:
        sys.exit(f"bench: pxos-kernel {' '.join(argv)} failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def prepare_home(home: Path) -> None:
    """Pack, register, test and promote the installed system in ``home``."""
    print("bench: packing, testing and promoting the installed system (a few minutes)...", flush=True)
    # One suite is carried: promotion needs a test run the ledger shows was sandboxed (G6.1).
    kernel(home, "world", "pack", "-o", str(home / "pxos.pxa"), "--tests", "pxos-pixelfs")
    record = json.loads(kernel(home, "world", "register", str(home / "pxos.pxa"), "--notes", "benchmark", "--json"))
    done = subprocess.run([*installed_cli(), "world", "test", record["version"]], env=child_env(PXOS_HOME=str(home)),
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: pxos@{record['version']} did not pass world test:\n{done.stdout.strip()[-1500:]}")
    kernel(home, "world", "promote", record["version"], "--approved-by", f"bench (run by {getpass.getuser()})",
           "--reason", "benchmark")


def current_archive(home: Path) -> Path:
    from pxos_cartridge.world import SystemRegistry
    from pxos_kernel import Kernel

    with Kernel(home) as k:
        systems = SystemRegistry(k)
        current = systems.current()
        if current is None:
            sys.exit(f"bench: {home} has no current system cartridge (pxos-kernel world promote)")
        return systems.archive_path(current["version"])


def extracted(archive: Path, dest: Path, prefix: str = "") -> Path:
    from pxos_cartridge.archive import open_archive

    return open_archive(archive).extract(dest, prefix)


def shiv_tool(work: Path) -> Path:
    """``shiv`` in a private venv of the bench."""
    where = work / "shiv-venv"
    venv.EnvBuilder(with_pip=True).create(where)
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "shiv"], check=True)
    return where / "bin" / "shiv"


def plugin_count(argv: list[str], env: dict) -> str:
    done = subprocess.run([*argv, "plugins", "--json"], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: {' '.join(argv)} plugins failed: {done.stderr.strip()[-800:]}")
    return str(len(json.loads(done.stdout)["plugins"]))


def line(name: str, seconds: float, base: float, note: str = "") -> None:
    print(f"  {name:24} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds of each start-up (default 15)")
    parser.add_argument("--pack-rounds", type=int, default=3, help="timed rounds of each pack (default 3)")
    parser.add_argument("--home", type=Path, help="use this PXOS_HOME's current system (default: make one)")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pxos-bench-world-"))
    try:
        home = options.home or work / "home"
        if options.home is None:
            home.mkdir()
            prepare_home(home)
        archive = current_archive(home)
        tree = extracted(archive, work / "site", "site-packages/")
        zipapp, shiv = work / "pxos.pyz", work / "pxos-shiv.pyz"
        subprocess.run([sys.executable, "-m", "zipapp", str(tree), "-m", "pxos_kernel.cli:entry", "-o", str(zipapp)],
                       check=True)
        subprocess.run([str(shiv_tool(work)), "--site-packages", str(tree), "-e", "pxos_kernel.cli:entry",
                        "-o", str(shiv), "--root", str(work / "shiv-root")],
                       check=True, stdout=subprocess.DEVNULL)
        env = child_env(PXOS_HOME=str(home))
        clis = {
            "installed pxos-kernel": installed_cli(),
            "python3 -I -S pxos.py": [sys.executable, "-I", "-S", str(SHIM)],
            "zipapp (python3 -I -S)": [sys.executable, "-I", "-S", str(zipapp)],
            "shiv (python3 -I)": [sys.executable, "-I", str(shiv)],
        }
        plugins = {name: plugin_count(argv, env) for name, argv in clis.items()}
        start = {name: median(s) for name, s in interleaved(
            {name: command([*argv, "plugins"], env) for name, argv in clis.items()}, options.rounds).items()}
        base = start["installed pxos-kernel"]
        print(f"start-up, 'plugins', median of {options.rounds} interleaved rounds:")
        for name, seconds in start.items():
            line(name, seconds, base, f"({plugins[name]} plugins)")
        ratio = start["python3 -I -S pxos.py"] / base
        print(f"  shim / installed = {ratio:.2f}x (target <= 1.3x): {verdict(ratio <= 1.3)}")

        hello_clis = {name: clis[name] for name in ("installed pxos-kernel", "python3 -I -S pxos.py")}
        hello = {name: median(s) for name, s in interleaved(
            {name: command([*argv, "run", "hello"], env) for name, argv in hello_clis.items()}, options.rounds).items()}
        print(f"run hello, median of {options.rounds} interleaved rounds:")
        for name, seconds in hello.items():
            line(name, seconds, hello["installed pxos-kernel"])
        ratio = hello["python3 -I -S pxos.py"] / hello["installed pxos-kernel"]
        print(f"  shim / installed = {ratio:.2f}x (target <= 1.3x): {verdict(ratio <= 1.3)}")

        packed, zipped = work / "again.pxa", work / "again.pyz"
        subprocess.run([*installed_cli(), "world", "pack", "-o", str(packed)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        members = extracted(packed, work / "members")  # every member: site-packages/, source/ (tests)
        count = sum(1 for p in members.rglob("*") if p.is_file())
        pack = {name: median(s) for name, s in interleaved({
            "world pack": command([*installed_cli(), "world", "pack", "-o", str(packed)], env),
            "python -m zipapp -c": command([sys.executable, "-m", "zipapp", str(members), "-c", "-o", str(zipped),
                                            "-m", "pxos_kernel.cli:entry"], env),
        }, options.pack_rounds, warmup=0).items()}
        sizes = {"world pack": packed.stat().st_size, "python -m zipapp -c": zipped.stat().st_size}
        print(f"world pack of the installed system ({count} files), median of {options.pack_rounds} rounds:")
        for name, seconds in pack.items():
            print(f"  {name:24} {seconds:8.2f} s  {sizes[name] / 1e6:8.2f} MB")
        time_ratio = pack["world pack"] / pack["python -m zipapp -c"]
        size_ratio = sizes["world pack"] / sizes["python -m zipapp -c"]
        print(f"  time {time_ratio:.2f}x (target <= 1.5x): {verdict(time_ratio <= 1.5)}; "
              f"size {size_ratio:.3f}x (target <= 1.05x): {verdict(size_ratio <= 1.05)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"(bench took {time.perf_counter() - started:.0f} s)")
    sys.exit(code)
