"""Conformance suites: the contract of each pluggable interface, as tests.

Subclass one in your plugin's tests and provide its fixture; every test of
the suite then runs against your implementation.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os

import pytest

from pxos_kernel.errors import AgentError, IntegrityError, NotFoundError, PxosError
from pxos_kernel.interfaces import (
    GenerationChunk,
    GenerationRequest,
    ObjectInfo,
    Proposal,
    Readiness,
    Task,
)
from pxos_kernel.ledger import GENESIS_PREV, Ledger


class StorageConformance:
    """Provide a ``storage`` fixture returning a fresh :class:`~pxos_kernel.interfaces.Storage`.

    Override ``corrupt(storage, key)`` to damage a stored object in place, so that
    ``verify`` can be tested; leave it to skip that test.
    """

    payloads = [b"", b"x", b"ab", b"abc", bytes(range(256)) * 41, os.urandom(100_003)]

    def corrupt(self, storage, key):
        pytest.skip("this suite cannot corrupt objects of this backend (override corrupt())")

    @pytest.mark.parametrize("index", range(6))
    def test_round_trip(self, storage, index):
        data = self.payloads[index]
        info = storage.put(f"obj/{index}", data)
        assert isinstance(info, ObjectInfo)
        assert info.size == len(data)
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert storage.get(f"obj/{index}") == data

    def test_put_from_stream_and_copy_to(self, storage):
        data = os.urandom(300_001)
        storage.put("stream", io.BytesIO(data))
        out = io.BytesIO()
        info = storage.copy_to("stream", out)
        assert out.getvalue() == data and info.sha256 == hashlib.sha256(data).hexdigest()

    def test_ranged_reads(self, storage):
        data = bytes(range(256)) * 10
        storage.put("ranged", data)
        for offset, length in [(0, 1), (1, 2), (3, 3), (255, 300), (2500, 100), (2559, 1), (100, None)]:
            assert storage.get("ranged", offset, length) == data[offset:None if length is None else offset + length]
        assert storage.get("ranged", len(data), 10) == b""

    def test_overwrite_replaces(self, storage):
        storage.put("k", b"one")
        storage.put("k", b"second version")
        assert storage.get("k") == b"second version"

    def test_info_ls_exists(self, storage):
        storage.put("dir/a", b"1")
        storage.put("dir/b", b"22")
        storage.put("other", b"333")
        assert storage.exists("dir/a") and not storage.exists("dir/zzz")
        assert storage.info("dir/b").size == 2
        assert [i.key for i in storage.ls("dir/")] == ["dir/a", "dir/b"]
        assert [i.key for i in storage.ls("")] == ["dir/a", "dir/b", "other"]

    def test_missing_key_is_not_found(self, storage):
        with pytest.raises(NotFoundError):
            storage.get("nope")
        with pytest.raises(NotFoundError):
            storage.info("nope")

    def test_verify_detects_corruption(self, storage):
        storage.put("fragile", os.urandom(5000))
        assert storage.verify("fragile").size == 5000
        self.corrupt(storage, "fragile")
        with pytest.raises((IntegrityError, PxosError)):
            storage.verify("fragile")


def _append_many(make_sink, count, worker):
    ledger = Ledger(make_sink())
    for i in range(count):
        ledger.append("TEST", "append", {"worker": worker, "i": i})
    ledger.close()


class SinkConformance:
    """Provide ``make_sink``: a zero-argument callable returning a new sink on one
    shared ledger (it is called in forked worker processes too)."""

    def test_empty_head(self, make_sink):
        assert make_sink().head() is None

    def test_append_and_read_back(self, make_sink):
        ledger = Ledger(make_sink())
        first = ledger.append("TEST", "one", {"n": 1})
        second = ledger.append("TEST", "two", {"n": 2.5, "text": "é"})
        assert first["prev"] == GENESIS_PREV and second["prev"] == first["hash"]
        assert list(ledger.records()) == [first, second]
        assert ledger.head() == second
        assert ledger.verify().ok

    def test_compare_and_append_refuses_stale_head(self, make_sink):
        ledger = Ledger(make_sink())
        first = ledger.append("TEST", "one")
        stale = dict(first, seq=1, payload={"forged": True})
        assert make_sink().compare_and_append(stale) is False
        wrong_prev = dict(first, seq=2, prev="f" * 64)
        assert make_sink().compare_and_append(wrong_prev) is False
        assert [r["seq"] for r in ledger.records()] == [1]

    def test_read_from_seq(self, make_sink):
        ledger = Ledger(make_sink())
        for i in range(5):
            ledger.append("TEST", "n", {"i": i})
        assert [r["seq"] for r in ledger.records(3)] == [3, 4, 5]

    def test_newest_first_is_the_chain_reversed(self, make_sink):
        ledger = Ledger(make_sink())
        records = [ledger.append("TEST", "n", {"i": i, "pad": "x" * (i * 37 % 500)}) for i in range(90)]
        newest_first = getattr(ledger.sink, "read_newest_first", None)
        if newest_first is None:
            pytest.skip("this sink has no read_newest_first: 'log -n' reads the whole ledger")
        assert list(newest_first()) == records[::-1]
        assert list(ledger.records_newest_first())[:3] == records[:-4:-1]

    def test_two_sink_objects_share_one_chain(self, make_sink):
        a, b = Ledger(make_sink()), Ledger(make_sink())
        for i in range(10):
            (a if i % 2 else b).append("TEST", "alt", {"i": i})
        report = a.verify()
        assert report.ok and report.records == 10

    def test_concurrent_processes_make_one_chain(self, make_sink):
        context = multiprocessing.get_context("fork")
        workers = [context.Process(target=_append_many, args=(make_sink, 50, w)) for w in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
            assert w.exitcode == 0
        ledger = Ledger(make_sink())
        report = ledger.verify()
        assert report.ok, report.problem
        assert report.records == 200
        assert sorted((r["payload"]["worker"], r["payload"]["i"]) for r in ledger.records()) == \
            [(w, i) for w in range(4) for i in range(50)]


class EngineConformance:
    """Provide ``engine`` (an :class:`~pxos_kernel.interfaces.Engine`) and optionally ``prompt``."""

    @pytest.fixture
    def prompt(self):
        return "def main():\n    "

    def test_lists_models(self, engine):
        models = engine.models()
        assert models and all(isinstance(m, str) for m in models)

    def test_generates_and_finishes(self, engine, prompt):
        chunks = list(engine.generate(GenerationRequest(prompt, max_tokens=8, seed=1)))
        assert chunks and all(isinstance(c, GenerationChunk) for c in chunks)
        assert chunks[-1].finish_reason in ("stop", "length")
        assert all(c.finish_reason is None for c in chunks[:-1])
        assert sum(c.tokens for c in chunks) <= 8

    def test_seed_makes_it_reproducible(self, engine, prompt):
        request = GenerationRequest(prompt, max_tokens=8, temperature=1.0, seed=1234)
        first = "".join(c.text for c in engine.generate(request))
        assert first == "".join(c.text for c in engine.generate(request))

    def test_stop_string_ends_generation(self, engine, prompt):
        free = "".join(c.text for c in engine.generate(GenerationRequest(prompt, max_tokens=8, seed=7)))
        if len(free) < 2:
            pytest.skip("the engine produced too little text to pick a stop string")
        stop = free[1]
        chunks = list(engine.generate(GenerationRequest(prompt, max_tokens=8, seed=7, stop=(stop,))))
        text = "".join(c.text for c in chunks)
        assert stop not in text and chunks[-1].finish_reason == "stop"

    def test_unknown_model_is_an_error(self, engine, prompt):
        with pytest.raises(PxosError):
            list(engine.generate(GenerationRequest(prompt, model="no-such-model-xyz", max_tokens=2)))


class AgentConformance:
    """Provide ``agent`` (an :class:`~pxos_kernel.interfaces.Agent`) and optionally ``task``
    and ``broken_agent`` (the same agent pointed at an unreachable backend)."""

    @pytest.fixture
    def task(self):
        return Task(goal="Write a Python function add(a, b) that returns a + b.",
                    files={"calc.py": "def add(a, b):\n    raise NotImplementedError\n"})

    @pytest.fixture
    def broken_agent(self):
        pytest.skip("no broken_agent fixture: cannot check failure reporting")

    def test_ready_is_readiness(self, agent):
        readiness = agent.ready()
        assert isinstance(readiness, Readiness)
        assert readiness.ok or readiness.reason

    def test_propose_returns_a_real_proposal(self, agent, task):
        proposal = agent.propose(task)
        assert isinstance(proposal, Proposal)
        assert proposal.agent and proposal.model
        assert proposal.text or proposal.patch

    def test_unreachable_backend_raises(self, broken_agent, task):
        assert not broken_agent.ready().ok
        with pytest.raises(AgentError):
            broken_agent.propose(task)
