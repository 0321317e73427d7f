"""The kernel's checkpoint helpers on the SQL sinks: linearization, mixtures, periodic and event triggers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pxos_kernel import CheckpointQueue, Checkpointer, Ledger, LedgerError

from conftest import wait_until


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request):
    maker = request.getfixturevalue("make_sqlite_sink" if request.param == "sqlite" else "make_pg_sink")
    return Ledger(maker())


def test_requests_are_linearized_by_priority_then_arrival(ledger):
    queue = CheckpointQueue(ledger, start=False)  # hold the writer while requests pile up
    plan = [(3, "d"), (1, "a1"), (2, "c"), (1, "a2"), (0, "first"), (2, "c2")]
    futures = [queue.submit("REQ", name, {"p": p}, priority=p) for p, name in plan]
    queue.start()
    queue.close()
    assert [r["op"] for r in ledger.records()] == ["first", "a1", "a2", "c", "c2", "d"]
    assert [f.result()["op"] for f in futures] == [name for _, name in plan]
    assert ledger.verify().ok


def test_threads_and_asyncio_tasks_share_one_chain(ledger):
    queue = CheckpointQueue(ledger)

    def thread_work(n):
        for i in range(20):
            queue.submit("REQ", "thread", {"t": n, "i": i}).result()

    async def task_work(n):
        for i in range(20):
            await asyncio.wrap_future(queue.submit("REQ", "task", {"t": n, "i": i}))

    async def tasks():
        await asyncio.gather(*(task_work(n) for n in range(3)))

    threads = [threading.Thread(target=thread_work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    asyncio.run(tasks())
    for t in threads:
        t.join()
    queue.close()
    report = ledger.verify()
    assert report.ok and report.records == 120


def test_a_mixture_is_appended_all_together(ledger):
    queue = CheckpointQueue(ledger, start=False)
    lone = queue.submit("REQ", "lone", priority=1)
    mixture = queue.submit_mixture("snapshot_generation", [
        {"type": "CAPTURE", "op": "player", "payload": {"x": 1}},
        {"type": "CAPTURE", "op": "physics", "payload": {"g": 9}},
        {"type": "CAPTURE", "op": "entities", "payload": {"n": 3}, "corridor": "DISTRICT_1.CHAMBER_0.NODE_PRE"},
    ], priority=0)
    queue.start()
    queue.close()
    records = mixture.result()
    assert [r["seq"] for r in records] == [1, 2, 3] and lone.result()["seq"] == 4
    assert [r["op"] for r in ledger.records()] == ["player", "physics", "entities", "lone"]


def test_a_mixture_that_loses_its_race_lands_nowhere_then_retries_whole(ledger):
    sink = ledger.sink
    first = Ledger(sink).append("REQ", "other")
    stale = [dict(first, seq=1, id="ATOM-REQ-20260101-000001")]
    assert sink.compare_and_append_many(stale) is False  # the head moved: none of it was written
    assert [r["seq"] for r in ledger.records()] == [1]


def test_a_mixture_on_a_sink_without_transactions_is_an_error(tmp_path):
    from pxos_kernel import JsonlSink

    ledger = Ledger(JsonlSink(tmp_path / "l.jsonl"))
    with CheckpointQueue(ledger) as queue:
        future = queue.submit_mixture("m", [{"type": "A", "op": "a"}, {"type": "B", "op": "b"}])
        with pytest.raises(LedgerError, match="atomically"):
            future.result(10)
    assert list(ledger.records()) == []
    ledger.close()


def test_periodic_and_event_checkpoints_do_not_block(ledger):
    queue = CheckpointQueue(ledger)
    emitter = Checkpointer(queue)
    ticks = iter(range(1000))
    emitter.every(0.02, "STATE", "periodic", lambda: {"tick": next(ticks)}, corridor="DISTRICT_3.CHAMBER_ROUTER.NODE_PERIODIC")
    emitter.on("ANOMALY_DETECTED", "ALERT", corridor="DISTRICT_4.CHAMBER_EXEC.NODE_ANOMALY", priority=0)
    started = time.perf_counter()
    futures = emitter.emit("ANOMALY_DETECTED", {"where": "router"})
    assert time.perf_counter() - started < 0.05 and len(futures) == 1
    assert futures[0].result(10)["payload"] == {"event": "ANOMALY_DETECTED", "data": {"where": "router"}}
    assert wait_until(lambda: sum(r["op"] == "periodic" for r in ledger.records()) >= 3)
    emitter.stop()
    queue.close()
    assert emitter.emit("UNHANDLED") == []
    periodic = [r["payload"]["tick"] for r in ledger.records() if r["op"] == "periodic"]
    assert periodic == list(range(len(periodic)))
    assert ledger.verify().ok
    with pytest.raises(LedgerError):
        emitter.every(0, "STATE", "x", dict)
