"""The durable task queue: states, priorities, dependencies, retries, humans, concurrency, corruption.

The conformance tests (every test taking ``queue`` or ``make_queue``) run on both
backends: SQLite, and a real PostgreSQL server started on 127.0.0.1.
"""

import functools
import multiprocessing
import sqlite3
import uuid

import pytest

from pxos_kernel import FormatError, NotFoundError, PxosError

from pxos_agents.queue import PostgresTaskQueue, QueueStateError, TaskQueue, open_queue


@pytest.fixture(params=["sqlite", "postgres"])
def make_queue(request, tmp_path):
    """A zero-argument factory of queue objects on one shared queue (called in forked workers too)."""
    if request.param == "sqlite":
        return functools.partial(TaskQueue, tmp_path / "queue.sqlite")
    dsn = request.getfixturevalue("postgres_dsn")
    return functools.partial(PostgresTaskQueue, dsn, schema="q_" + uuid.uuid4().hex[:12])


@pytest.fixture
def queue(make_queue):
    q = make_queue()
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


def _claim_all(make_queue, worker, out):
    q = make_queue()
    got = []
    while (task := q.claim(worker)) is not None:
        q.complete(task.id)
        got.append(task.id)
    q.close()
    out.put(got)


def test_concurrent_workers_claim_each_task_exactly_once(make_queue):
    q = make_queue()
    for i in range(120):
        q.add(f"t{i}", priority=i % 3)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(make_queue, f"w{n}", out)) for n in range(4)]
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


def test_a_foreign_sqlite_database_is_refused_as_not_a_pxos_queue(tmp_path):
    path = tmp_path / "queue.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT)")  # someone else's "tasks"
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(FormatError, match="not a pxOS task queue .its table tasks has no column"):
        TaskQueue(path)
    assert path.read_bytes() == before
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE invoices (n INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(FormatError, match="has table.s. invoices"):
        TaskQueue(other)


def test_a_foreign_postgres_schema_is_refused(postgres_dsn):
    import psycopg

    schema = "f_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_dsn, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        db.execute(f"CREATE TABLE {schema}.tasks (id INTEGER PRIMARY KEY, title TEXT)")
    with pytest.raises(PxosError, match="not a pxOS queue"):
        PostgresTaskQueue(postgres_dsn, schema=schema)


def test_config_selects_the_backend(pxos_kernel, postgres_dsn, pxos_home):
    assert type(open_queue(pxos_kernel)) is TaskQueue
    (pxos_home / "config.yaml").write_text(
        f"agents:\n  queue: {{backend: postgres, dsn: '{postgres_dsn}', schema: q_{uuid.uuid4().hex[:8]}}}\n")
    from pxos_kernel import Kernel

    with Kernel(pxos_home) as kernel:
        queue = open_queue(kernel)
        assert type(queue) is PostgresTaskQueue and queue.add("from config").state == "pending"
        queue.close()
    (pxos_home / "config.yaml").write_text("agents:\n  queue: {backend: redis}\n")
    with Kernel(pxos_home) as kernel, pytest.raises(PxosError, match="must be one of sqlite, postgres"):
        open_queue(kernel)
