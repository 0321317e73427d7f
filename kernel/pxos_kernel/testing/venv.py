"""A throwaway virtual environment to pip-install plugins into, as a user would.

``plugin new``'s tests install every skeleton into one and run its own tests
there; the kernel's tests do the same with plugins written from the docs.

The venv sees everything the running interpreter sees (so the kernel, pytest
and their dependencies are reused and nothing comes from the network), plus
whatever is installed into it. Plugins are installed with
``pip install --no-deps --no-build-isolation -e DIR``: a real build through
setuptools, real ``*.dist-info`` entry points, no download.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Mapping, Optional

# Variables that would make a child kernel or pytest behave unlike a fresh user's.
_SCRUB = ("PXOS_PLUGINS", "PXOS_DISABLE_PLUGINS", "PXOS_STRICT_PLUGINS", "PXOS_WORLD", "PXOS_DEBUG",
          "PXOS_LEDGER_KEY_FILE", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "PYTHONPATH")


class PluginVenv:
    """A venv at ``path`` layered over the current interpreter's packages."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(self.path)],
                       check=True, capture_output=True)
        self.python = self.path / "bin" / "python"
        if sys.prefix != sys.base_prefix:
            # We run inside a venv (tox, say): --system-site-packages would expose the base
            # interpreter's packages, not ours. A .pth line adds ours, .pth files included.
            purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                     check=True, capture_output=True, text=True).stdout.strip()
            ours = [p for p in {*site.getsitepackages(), sysconfig.get_path("purelib")} if os.path.isdir(p)]
            Path(purelib, "_parent_env.pth").write_text(
                "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(ours)))

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """An environment for a child: fresh ``PXOS_HOME``, no inherited plugin selection."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
        env.update(PXOS_HOME=str(home), PYTHONDONTWRITEBYTECODE="1", **extra)
        return env

    def install(self, project: Path) -> None:
        """``pip install --no-deps --no-build-isolation -e project`` into this venv."""
        done = subprocess.run([str(self.python), "-m", "pip", "install", "--quiet", "--no-deps",
                               "--no-build-isolation", "--disable-pip-version-check", "-e", str(project)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"pip install -e {project} failed:\n{done.stdout}\n{done.stderr}"

    def cli(self, *argv: str, home: Path, env: Optional[Mapping[str, str]] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ``pxos-kernel ARGV`` with this venv's interpreter."""
        return subprocess.run([str(self.python), "-m", "pxos_kernel", *argv], capture_output=True, text=True,
                              env={**self.env(home), **(env or {})}, timeout=timeout, cwd=home)

    def pytest(self, project: Path, basetemp: Path, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``project``'s own tests with this venv's pytest, in the project directory."""
        return subprocess.run([str(self.python), "-m", "pytest", "-v", "-p", "no:cacheprovider",
                               f"--basetemp={basetemp}", "tests"], capture_output=True, text=True,
                              cwd=project, env=self.env(home), timeout=timeout)
