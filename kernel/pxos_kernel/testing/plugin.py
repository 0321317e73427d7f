"""pytest plugin (entry point ``pytest11``): fixtures every pxOS test suite can use."""

from __future__ import annotations

import pytest


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "source_tree: needs the repository's source tree itself (builds a wheel from "
                            "it, reads a file beside the package); 'world test' deselects it, since a system "
                            "cartridge carries the installed packages, not their source tree")


@pytest.fixture
def pxos_home(tmp_path, monkeypatch):
    """A fresh, empty ``PXOS_HOME`` for one test (set in the environment too)."""
    home = tmp_path / "pxos-home"
    home.mkdir()
    monkeypatch.setenv("PXOS_HOME", str(home))
    for variable in ("PXOS_PLUGINS", "PXOS_DISABLE_PLUGINS", "PXOS_STRICT_PLUGINS", "PXOS_WORLD",
                     "PXOS_LEDGER_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def pxos_kernel(pxos_home):
    """A booted :class:`~pxos_kernel.core.Kernel` on a fresh ``PXOS_HOME``; closed afterwards."""
    from pxos_kernel.core import Kernel

    kernel = Kernel(pxos_home)
    yield kernel
    kernel.close()


@pytest.fixture
def pxos_cli(pxos_home, capfd):
    """Run ``pxos-kernel`` in-process: ``code, out, err = pxos_cli("plugins", "--json")``.

    A usage error gives ``(2, out, err)`` as the real command does (argparse's
    ``SystemExit`` is caught), and ``err`` holds its one line. Output is captured
    at the file descriptors, so what a sandboxed child prints is in ``out`` too.
    """
    from pxos_kernel.cli import main

    def run(*argv: str):
        capfd.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit:  # argparse: a usage error (2) or --help (0)
            code = exit.code if isinstance(exit.code, int) else 1
        captured = capfd.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def pxos_sandbox():
    """The sandbox mechanism giving filesystem isolation here (bubblewrap installed if missing).

    Use it (or make it autouse in a conftest) in suites that run code through
    the kernel sandbox, which refuses to run untrusted code without isolation.
    Skips where none can be had, and fails under CI.
    """
    from pxos_kernel.testing.system import require_sandbox

    return require_sandbox()


@pytest.fixture(scope="session")
def postgres_dsn():
    """The DSN of a throw-away PostgreSQL server on 127.0.0.1, started once a session (see :mod:`.postgres`)."""
    from pxos_kernel.testing.postgres import PostgresUnavailable, postgres_server, skip_or_fail

    try:
        server = postgres_server()
        dsn = server.__enter__()
    except PostgresUnavailable as exc:
        skip_or_fail(exc)
    try:
        yield dsn
    finally:
        server.__exit__(None, None, None)
