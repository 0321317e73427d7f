"""Fixtures: SQLite sinks in a temp dir, and a real PostgreSQL server on 127.0.0.1 for the session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from pxos_kernel.testing import require_system_package


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        require_system_package("pg_ctlcluster", "postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        _unavailable("Debian's postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found")
    return os.path.dirname(found[-1])


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"PostgreSQL server could not be started: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL server could not be started: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_dsn():
    """Start a throw-away PostgreSQL server (as user nobody when we are root); stop it afterwards."""
    bindir = _pg_bin()
    base = tempfile.mkdtemp(prefix="pxos-ledger-pg-")
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
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=on"
    start = subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"],
                           capture_output=True, text=True)
    if start.returncode != 0:
        text = open(log).read()[-500:] if os.path.exists(log) else start.stderr
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"pg_ctl start failed: {text}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sqlite_path(tmp_path):
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def make_sqlite_sink(sqlite_path):
    from pxos_ledger.sqlite_sink import SqliteSink

    made = []

    def make(durability: str = "flush"):
        sink = SqliteSink(sqlite_path, durability)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


@pytest.fixture
def pg_table():
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture
def make_pg_sink(postgres_dsn, pg_table):
    from pxos_ledger.postgres_sink import PostgresSink

    made = []

    def make(durability: str = "fsync"):
        sink = PostgresSink(postgres_dsn, table=pg_table, durability=durability)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


@pytest.fixture
def sqlite_cli(pxos_home, pxos_cli):
    """The CLI on a PXOS_HOME whose ledger is the sqlite sink."""
    (pxos_home / "config.yaml").write_text("defaults:\n  sink: sqlite\n")
    return pxos_cli


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
