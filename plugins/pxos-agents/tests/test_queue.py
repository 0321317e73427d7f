"""The durable task queue: states, priorities, dependencies, retries, humans, concurrency, corruption."""

import multiprocessing

import pytest

from pxos_kernel import FormatError, NotFoundError, PxosError

from pxos_agents.queue import QueueStateError, TaskQueue


@pytest.fixture
def queue(tmp_path):
    q = TaskQueue(tmp_path / "queue.sqlite")
    yield q
    q.close()


def test_claims_by_priority_then_age_and_phase(queue):
    low = queue.add("low")
    high = queue.add("high", priority=5)
    other = queue.add("other phase", priority=9, phase="build")
    assert queue.claim("w", phase="default").id == high.id
    assert queue.claim("w", phase="default").id == low.id
    assert queue.claim("w", phase="default") is None
    assert queue.claim("w").id == other.id


def test_dependencies_wait_then_block_on_failure_and_come_back_on_requeue(queue):
    first = queue.add("first", max_attempts=1)
    second = queue.add("second", depends_on=[first.id], priority=10)
    assert queue.claim("w").id == first.id  # second waits although its priority is higher
    assert queue.claim("w") is None
    failed = queue.fail(first.id, "boom")
    assert failed.state == "failed" and failed.needs_human and failed.last_error == "boom"
    assert queue.get(second.id).state == "blocked"
    assert queue.requeue(first.id).state == "pending"
    assert queue.claim("w").id == first.id
    assert queue.get(second.id).state == "pending"
    queue.complete(first.id, {"ok": True})
    assert queue.claim("w").id == second.id


def test_attempts_retry_until_the_limit(queue):
    task = queue.add("flaky", max_attempts=2)
    claimed = queue.claim("w")
    assert claimed.attempts == 1 and claimed.state == "in_progress" and claimed.worker == "w"
    assert queue.fail(task.id, "first").state == "pending"
    assert queue.claim("w").attempts == 2
    assert queue.to_review(task.id).state == "review"
    final = queue.fail(task.id, "second")
    assert final.state == "failed" and final.needs_human
    assert queue.claim("w") is None
    assert queue.requeue(task.id).attempts == 0


def test_requeue_frees_a_task_left_by_a_crashed_worker(queue):
    task = queue.add("orphan")
    queue.claim("dead-worker")
    assert queue.requeue(task.id).state == "pending"
    assert queue.claim("w").worker == "w"
    queue.requeue(task.id)  # taken away from "w" while it was working
    with pytest.raises(QueueStateError):
        queue.complete(task.id)


def test_human_flag_holds_a_task(queue):
    task = queue.add("ask a human")
    queue.flag(task.id, "needs a design decision")
    assert queue.claim("w") is None
    assert queue.get(task.id).human_reason == "needs a design decision"
    queue.requeue(task.id)
    assert queue.claim("w").id == task.id


def test_illegal_moves_and_bad_input_are_errors(queue):
    task = queue.add("x")
    with pytest.raises(QueueStateError, match="is pending"):
        queue.complete(task.id)
    with pytest.raises(NotFoundError):
        queue.get(999)
    with pytest.raises(NotFoundError):
        queue.add("y", depends_on=[999])
    with pytest.raises(PxosError):
        queue.add("  ")
    with pytest.raises(PxosError):
        queue.list(state="done")
    assert queue.counts()["pending"] == 1  # the refused add left nothing behind


def _claim_all(path, worker, out):
    q = TaskQueue(path)
    got = []
    while (task := q.claim(worker)) is not None:
        q.complete(task.id)
        got.append(task.id)
    q.close()
    out.put(got)


def test_concurrent_workers_claim_each_task_exactly_once(tmp_path):
    path = tmp_path / "queue.sqlite"
    q = TaskQueue(path)
    for i in range(120):
        q.add(f"t{i}", priority=i % 3)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(path, f"w{n}", out)) for n in range(4)]
    for w in workers:
        w.start()
    claimed = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
    every = sorted(i for ids in claimed for i in ids)
    assert every == list(range(1, 121))
    assert q.counts()["completed"] == 120
    q.close()


def test_corrupt_queue_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "queue.sqlite"
    garbage = b"this is not a database" * 100
    path.write_bytes(garbage)
    with pytest.raises(FormatError, match="refusing"):
        TaskQueue(path)
    assert path.read_bytes() == garbage
