"""Both sinks pass the kernel's checkpoint-sink conformance suite, at every durability level."""

from __future__ import annotations

import pytest

from pxos_kernel.testing import SinkConformance


class TestSqliteConformance(SinkConformance):
    @pytest.fixture(params=["flush", "fsync", "group"])
    def make_sink(self, request, make_sqlite_sink):
        return lambda: make_sqlite_sink(request.param)


class TestPostgresConformance(SinkConformance):
    @pytest.fixture(params=["flush", "fsync"])
    def make_sink(self, request, make_pg_sink):
        return lambda: make_pg_sink(request.param)
