"""Long jobs' progress: a bar on a terminal's stderr, and nothing at all (not even tqdm) anywhere else."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from pxos_kernel import hookimpl, progress, progress_shown
from pxos_kernel.testing import run_on_terminal

#: A job of three steps, then a job of two phases; stdout says whether tqdm was imported.
JOB = """
import io, sys, time
from pxos_kernel import progress
for _ in progress(range(3), description="counting job", unit="step"):
    time.sleep(0.05)
with progress(description="phased job", total=2, unit="phase") as bar:
    bar.phase("first part")
    bar.phase("second part")
with progress(description="copying job", total=1 << 20, unit="B") as bar:
    reader = bar.reader(io.BytesIO(bytes(1 << 20)))
    reader.read()
    reader.seek(0)  # a second pass (hash, then store) starts the count again: no byte counts twice
    reader.read()
print("tqdm imported" if "tqdm" in sys.modules else "no tqdm")
"""


def _environment(**changes: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PXOS_QUIET", "TERM")}
    return {**env, **changes}


def test_a_terminal_gets_a_bar_on_stderr_and_stdout_only_the_result():
    done = run_on_terminal([sys.executable, "-c", JOB], env=_environment())
    assert done.exit_code == 0, done.terminal
    assert done.stdout == "tqdm imported\n"
    assert "counting job: 100%" in done.terminal and "3/3" in done.terminal
    assert "phased job: 100%" in done.terminal and "2/2" in done.terminal and "done" in done.terminal
    assert "first part" in done.terminal
    assert "copying job: 100%" in done.terminal and "1.05M/1.05M" in done.terminal
    assert re.search(r"2\.10M(?!B/s)", done.terminal) is None  # 2 MiB read, never 2 MiB counted


@pytest.mark.parametrize("quiet", [{"PXOS_QUIET": "1"}, {"TERM": "dumb"}], ids=["PXOS_QUIET", "TERM=dumb"])
def test_quiet_or_a_dumb_terminal_prints_nothing_and_imports_no_tqdm(quiet):
    done = run_on_terminal([sys.executable, "-c", JOB], env=_environment(**quiet))
    assert (done.exit_code, done.stdout, done.terminal) == (0, "no tqdm\n", "")


def test_a_pipe_gets_nothing_and_tqdm_is_not_imported():
    done = subprocess.run([sys.executable, "-c", JOB], capture_output=True, text=True, env=_environment(),
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "no tqdm\n", "")


def test_the_cli_quiet_flag_reaches_the_command_and_its_children(monkeypatch, pxos_cli):
    from pxos_kernel import Subcommand
    from pxos_kernel.testing import add_plugin

    class Probe:
        @hookimpl
        def pxos_subcommands(self):
            return Subcommand("probe", "print PXOS_QUIET", lambda args: print(os.environ.get("PXOS_QUIET")))

    monkeypatch.setenv("PXOS_QUIET", "")  # restored after the test: the CLI sets it for good
    add_plugin(monkeypatch, Probe(), "probe")
    assert pxos_cli("probe")[:2] == (0, "\n")
    assert pxos_cli("--quiet", "probe")[:2] == (0, "1\n")
    assert pxos_cli("-q", "probe")[:2] == (0, "1\n")


def test_without_a_bar_the_progress_does_nothing_and_passes_streams_through():
    assert not progress_shown()  # pytest captures stderr: not a terminal
    stream = io.BytesIO(b"data")
    with progress(description="job", total=4, unit="B") as bar:
        assert bar.reader(stream) is stream and bar.writer(stream) is stream
        bar.update(4)
        bar.phase("a phase")
        bar.note("a note")
    assert list(progress(["a", "b"], description="job")) == ["a", "b"]


def test_a_progress_without_an_iterable_is_not_iterable():
    with pytest.raises(TypeError, match="call update"):
        list(progress(description="job", total=3))
