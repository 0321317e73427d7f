"""A throw-away PostgreSQL server on 127.0.0.1 for tests and benchmarks: Debian's packages, started and removed.

The ``postgres_dsn`` fixture (session scope, from the pxOS pytest plugin) starts
one server for the whole session. Where no server can be started the tests that
need one skip, saying why; under ``CI=true`` they fail instead. Outside pytest
(bench/), :func:`postgres_server` raises :class:`PostgresUnavailable`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Iterator

import pytest

from pxos_kernel.testing.system import require_system_package


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be started here (the message says why)."""


def _unavailable(reason: str) -> None:
    raise PostgresUnavailable(f"PostgreSQL server could not be started: {reason}")


def skip_or_fail(exc: PostgresUnavailable) -> None:
    """In a test: skip, saying why; under ``CI=true`` fail instead."""
    if _in_ci():
        pytest.fail(str(exc), pytrace=False)
    pytest.skip(str(exc))


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        require_system_package("pg_ctlcluster", "postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        _unavailable("Debian's postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(settings: str = "-c fsync=on") -> Iterator[str]:
    """Start a PostgreSQL server on 127.0.0.1 (as user nobody when we are root); yield its DSN; stop and remove it."""
    bindir = _pg_bin()
    base = tempfile.mkdtemp(prefix="pxos-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(base, "nobody", "nogroup")
        as_user = ["runuser", "-u", "nobody", "--"]
    data, log, port = os.path.join(base, "data"), os.path.join(base, "server.log"), _free_port()
    init = subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"], capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=200 {settings}"
    start = subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60",
                                      "start"], capture_output=True, text=True)
    if start.returncode != 0:
        text = open(log).read()[-500:] if os.path.exists(log) else start.stderr
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"pg_ctl start failed: {text}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
