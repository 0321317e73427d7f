"""Importing a few hundred stdlib modules from a .pxa (pxos_cartridge.importer) vs a .zip (zipimport).

The tree: copies of the standard library's email, asyncio, xml, concurrent,
http, wsgiref, xmlrpc, unittest and encodings (renamed bench_encodings, since
the interpreter has the real one loaded at start-up). The same files go into
a .pxa (pack_tree) and a .zip (ZIP_DEFLATED, level 6); neither holds bytecode,
so both compile the sources.

cold: a fresh interpreter per measurement (`python -I`), timing from before
      the importer is set up (for .pxa: importing pxos_cartridge.importer and
      opening, verifying and indexing the archive; for .zip: adding it to
      sys.path) to the last import. Runs alternate between the two.
warm: in one process, after the cold run, every module is dropped from
      sys.modules and imported again from the already-open archive / zip.

Run: python bench/cartridge_import.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

PACKAGES = ["email", "asyncio", "xml", "concurrent", "http", "wsgiref", "xmlrpc", "unittest"]
RENAMED = {"encodings": "bench_encodings"}

CHILD = r"""
import importlib, json, statistics, sys, time
mode, archive, modules, warm_runs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
tops = {m.split(".")[0] for m in modules}
start = time.perf_counter()
if mode == "pxa":
    from pxos_cartridge.importer import install
    install(archive)
else:
    sys.path.insert(0, archive)
setup = time.perf_counter() - start
loaded = sorted(t for t in tops if t in sys.modules)
if loaded:
    raise SystemExit(f"benchmark invalid: {loaded} were imported before the timed imports")

def import_all():
    ok = failed = 0
    for name in modules:
        try:
            importlib.import_module(name)
            ok += 1
        except ImportError:
            failed += 1
    return ok, failed

ok, failed = import_all()
cold = time.perf_counter() - start
inside = sum(1 for m in modules if getattr(sys.modules.get(m), "__file__", "") and sys.modules[m].__file__.startswith(archive))
warm = []
for _ in range(warm_runs):
    for name in [n for n in sys.modules if n.split(".")[0] in tops]:
        del sys.modules[name]
    t = time.perf_counter()
    import_all()
    warm.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "setup": setup, "ok": ok, "failed": failed, "from_archive": inside,
                  "warm": statistics.median(warm)}))
"""


def build_tree(root: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    tree = root / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "test", "tests", "idle_test")
    for name in PACKAGES:
        shutil.copytree(stdlib / name, tree / name, ignore=ignore)
    for name, new in RENAMED.items():
        shutil.copytree(stdlib / name, tree / new, ignore=ignore)
    return tree


def module_names(tree: Path) -> list[str]:
    names = []
    for path in sorted(tree.rglob("*.py")):
        parts = list(path.relative_to(tree).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if "__main__" not in parts:  # running them would start their command line
            names.append(".".join(parts))
    return names


def write_zip(tree: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(tree).as_posix())


def child(mode: str, archive: Path, modules: list[str], warm_runs: int) -> dict:
    out = subprocess.run([sys.executable, "-I", "-W", "ignore", "-c", CHILD, mode, str(archive),
                          json.dumps(modules), str(warm_runs)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"{mode} run failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold runs of each (default 5)")
    parser.add_argument("--warm", type=int, default=3, help="warm repetitions inside each run (default 3)")
    options = parser.parse_args()
    from pxos_cartridge.archive import pack_tree

    with tempfile.TemporaryDirectory(prefix="pxos-bench-") as tmp:
        tree = build_tree(Path(tmp))
        modules = module_names(tree)
        pxa, zpath = Path(tmp) / "tree.pxa", Path(tmp) / "tree.zip"
        pack_tree(tree, pxa)
        write_zip(tree, zpath)
        results: dict[str, list[dict]] = {"pxa": [], "zip": []}
        for _ in range(options.runs):
            for mode, path in (("pxa", pxa), ("zip", zpath)):
                results[mode].append(child(mode, path, modules, options.warm))
    first = {mode: runs[0] for mode, runs in results.items()}
    if first["pxa"]["ok"] != first["zip"]["ok"]:
        raise SystemExit(f"benchmark invalid: imported {first['pxa']['ok']} modules from .pxa, "
                         f"{first['zip']['ok']} from .zip")
    med = {mode: {key: statistics.median(r[key] for r in runs) for key in ("cold", "setup", "warm")}
           for mode, runs in results.items()}
    print(f"{len(modules)} modules in the tree, {first['pxa']['ok']} importable here "
          f"({first['pxa']['from_archive']} from the .pxa, {first['zip']['from_archive']} from the .zip); "
          f"{options.runs} cold runs each, medians")
    print(f"{'':6} {'.pxa':>10} {'zipimport':>10} {'ratio':>7}")
    for key in ("cold", "warm"):
        print(f"{key:6} {med['pxa'][key] * 1000:8.1f}ms {med['zip'][key] * 1000:8.1f}ms "
              f"{med['pxa'][key] / med['zip'][key]:6.2f}x")
    print(f"(cold includes setting up: .pxa {med['pxa']['setup'] * 1000:.1f}ms to import the importer and open, "
          f"verify and index the archive; .zip {med['zip']['setup'] * 1000:.2f}ms)")


if __name__ == "__main__":
    main()
