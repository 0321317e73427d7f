"""Fixtures: SQLite sinks in a temp dir, and sinks on the real PostgreSQL server of ``postgres_dsn`` (pxos_kernel.testing)."""

from __future__ import annotations

import time
import uuid

import pytest


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
