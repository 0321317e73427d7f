"""mypy over the kernel and every plugin package, from the source trees (``tox -e lint``).

Settings are in pyproject.toml (``[tool.mypy]``); this finds the packages, so a
new plugin directory is checked without editing anything.
"""

from __future__ import annotations

import os
import subprocess
import sys

from boundary import ROOT, plugin_dists


def main(argv: list[str]) -> int:
    dists = plugin_dists()
    path = os.pathsep.join([str(ROOT / "kernel"), *(str(d.directory) for d in dists)])
    packages = [arg for d in ["pxos_kernel", *(d.package for d in dists)] for arg in ("-p", d)]
    return subprocess.run([sys.executable, "-m", "mypy", *packages, *argv], cwd=ROOT,
                          env={**os.environ, "MYPYPATH": path}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
