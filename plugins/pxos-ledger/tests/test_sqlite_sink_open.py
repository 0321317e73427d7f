"""Many processes opening one brand-new SQLite ledger at the same moment all succeed."""

import multiprocessing


def _open_and_append(path, barrier):
    from pxos_kernel import Ledger
    from pxos_ledger.sqlite_sink import SqliteSink

    barrier.wait()
    ledger = Ledger(SqliteSink(path))
    ledger.append("TEST", "open", {})
    ledger.close()


def test_simultaneous_first_opens(tmp_path):
    context = multiprocessing.get_context("fork")
    for attempt in range(10):  # the race is narrow: give it many chances
        path = tmp_path / f"new-{attempt}.sqlite"
        barrier = context.Barrier(6)
        workers = [context.Process(target=_open_and_append, args=(path, barrier)) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        assert [w.exitcode for w in workers] == [0] * 6

        from pxos_kernel import Ledger
        from pxos_ledger.sqlite_sink import SqliteSink

        report = Ledger(SqliteSink(path)).verify()
        assert report.ok and report.records == 6
