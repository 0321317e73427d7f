import os
import subprocess
import sys

import pytest

from pxos_kernel.errors import NotFoundError, ProgramError


def run_posts(kernel):
    return [r for r in kernel.ledger.records() if r["corridor"].endswith("NODE_POST")]


def test_hello_runs_and_is_logged_pre_and_post(pxos_kernel, capsys):
    result = pxos_kernel.hypervisor.run_program("hello", ["Ada"])
    assert result.ok and result.exit_code == 0
    assert "Hello, Ada, from pxOS!" in capsys.readouterr().out
    pre, post = list(pxos_kernel.ledger.records())
    assert pre["corridor"] == "DISTRICT_4.CHAMBER_EXEC.NODE_PRE" and pre["payload"]["program"] == "hello"
    assert post["payload"]["pre"] == pre["id"] and post["payload"]["status"] == "ok"
    assert (result.pre_id, result.post_id) == (pre["id"], post["id"])


def test_module_function_gets_the_arguments(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:add", ["2", "40"])
    assert (result.status, result.exit_code, result.value) == ("failed", 42, None)


def test_non_int_results_are_values(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:describe", ["x", "y"])
    assert result.value == {"args": ["x", "y"], "cwd_is_scratch": False}
    assert run_posts(pxos_kernel)[-1]["payload"]["value"].startswith("{")


def test_raising_program_is_reported_and_logged(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:fail")
    assert result.status == "error" and result.exit_code == 1
    assert "ValueError: this program always fails" in result.error
    assert run_posts(pxos_kernel)[-1]["payload"]["status"] == "error"


@pytest.mark.parametrize("spec, error, message", [
    ("no-such-program", NotFoundError, "unknown program"),
    ("no_such_module_xyz:main", NotFoundError, "no module named"),
    ("sample_programs:missing", NotFoundError, "has no attribute"),
    ("sample_programs:not_callable", ProgramError, "not callable"),
])
def test_unresolvable_programs_are_clear_errors_and_still_logged(pxos_kernel, spec, error, message):
    with pytest.raises(error, match=message):
        pxos_kernel.hypervisor.run_program(spec)
    pre, post = list(pxos_kernel.ledger.records())
    assert post["payload"]["status"] == "unresolved" and message in post["payload"]["error"]


def test_concurrent_cli_runs_make_one_valid_chain(pxos_home):
    procs = [subprocess.Popen([sys.executable, "-m", "pxos_kernel", "run", "hello"], stdout=subprocess.DEVNULL,
                              env={**os.environ, "PXOS_HOME": str(pxos_home)}) for _ in range(6)]
    assert all(p.wait(120) == 0 for p in procs)
    from pxos_kernel.core import Kernel

    with Kernel(pxos_home) as kernel:
        report = kernel.ledger.verify()
    assert report.ok and report.records == 12


def test_lifecycle_hooks_fire_in_order(pxos_home):
    from pxos_kernel import hookimpl
    from pxos_kernel.core import Kernel

    events = []

    class Recorder:
        @hookimpl
        def pxos_kernel_booted(self, kernel):
            events.append("booted")

        @hookimpl
        def pxos_program_started(self, kernel, program, args, record):
            events.append(("started", program.name, record["corridor"]))

        @hookimpl
        def pxos_program_finished(self, kernel, program, result, record):
            events.append(("finished", result.status, record["corridor"]))

        @hookimpl
        def pxos_kernel_shutdown(self, kernel):
            events.append("shutdown")

    kernel = Kernel(pxos_home, load_plugins=False)
    kernel.plugins.register(Recorder(), "recorder")
    kernel.hook.pxos_kernel_booted(kernel=kernel)  # late registration: replay the boot event for it
    kernel.hypervisor.run_program("hello")
    kernel.close()
    assert events == ["booted", ("started", "hello", "DISTRICT_4.CHAMBER_EXEC.NODE_PRE"),
                      ("finished", "ok", "DISTRICT_4.CHAMBER_EXEC.NODE_POST"), "shutdown"]
