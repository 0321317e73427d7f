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


def test_sandbox_runs_in_a_scratch_dir_with_a_scrubbed_environment(pxos_kernel, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    result = pxos_kernel.hypervisor.run_program("sample_programs:describe", ["a"], sandbox=True)
    assert result.value == {"args": ["a"], "cwd_is_scratch": True}
    env = pxos_kernel.hypervisor.run_program("sample_programs:environment", sandbox=True).value
    assert "SECRET_TOKEN" not in env and set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONDONTWRITEBYTECODE",
                                                      "LC_CTYPE"}


def test_sandbox_timeout_kills_and_logs(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:sleep_forever", sandbox=True, timeout=1)
    assert result.status == "timeout" and result.exit_code == 124 and "1 s timeout" in result.error
    assert 1 <= result.duration < 10
    assert run_posts(pxos_kernel)[-1]["payload"]["status"] == "timeout"


def test_sandbox_memory_limit(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:hog_memory", sandbox=True, timeout=30,
                                                limits={"memory_mb": 300})
    assert result.status == "memory" and "300 MB" in result.error
    assert run_posts(pxos_kernel)[-1]["payload"]["status"] == "memory"


def test_sandbox_cpu_limit(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:burn_cpu", sandbox=True, timeout=30,
                                                limits={"cpu_seconds": 1})
    assert result.status == "cpu"


def test_sandbox_reports_raising_programs(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("sample_programs:fail", sandbox=True, capture=True)
    assert result.status == "error" and "this program always fails" in result.error


def test_sandbox_has_no_network_where_unshare_works(pxos_kernel):
    from pxos_kernel.sandbox import network_isolation_available

    if not network_isolation_available():
        pytest.skip("unshare -rn is not permitted on this machine; inspect reports no_network: NO")
    code = "import socket; s=socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', 9)); print('connected')"
    script = pxos_kernel.home / "net.py"
    script.write_text(f"def main():\n    {code}\n")
    sys.path.insert(0, str(pxos_kernel.home))
    try:
        result = pxos_kernel.hypervisor.run_program("net:main", sandbox=True, capture=True)
    finally:
        sys.path.remove(str(pxos_kernel.home))
    assert result.status == "error" and ("unreachable" in result.error or "Errno" in result.error)


def test_inspect_reports_protections_honestly(pxos_kernel):
    report = pxos_kernel.hypervisor.inspect_self()
    sandbox = report["sandbox"]
    assert sandbox["filesystem_isolation"]["enforced"] is False
    assert sandbox["timeout"]["enforced"] is True
    assert "missing_defaults" in report["world"] and "missing_plugins" in report["world"]


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


def test_sandboxed_module_is_never_imported_by_the_parent(pxos_kernel, tmp_path, monkeypatch):
    marker = tmp_path / "imported-in-parent"
    (tmp_path / "noisy_module.py").write_text(
        "import os, sys\n"
        f"if 'pxos_kernel.sandbox_child' not in sys.modules: open({str(marker)!r}, 'w').close()\n"
        "def main():\n    return 'ran'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = pxos_kernel.hypervisor.run_program("noisy_module:main", sandbox=True)
    assert result.value == "ran" and not marker.exists()


def test_sandboxed_missing_module_is_reported_by_the_child(pxos_kernel):
    result = pxos_kernel.hypervisor.run_program("no_such_module_xyz:main", sandbox=True)
    assert result.status == "error" and "no module named 'no_such_module_xyz'" in result.error
