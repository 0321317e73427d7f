"""pxos-pixellm through the installed ``pxos-kernel`` command, in fresh processes.

The shipped model generates from a fresh PXOS_HOME with no setup; ``run
pixellm`` goes through the hypervisor and lands in the ledger; bad prompts are
one-line errors; the plugin's entry point does not import numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("pxos_pixellm")


def cli(home, *argv, stdin: bytes = b""):
    env = {**os.environ, "PXOS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], input=stdin, env=env,
                          capture_output=True, timeout=300)


def test_model_generate_out_of_the_box(tmp_path):
    result = cli(tmp_path, "model", "generate", "def main():", "--seed", "1", "--max-tokens", "48")
    assert result.returncode == 0, result.stderr.decode()
    again = cli(tmp_path, "model", "generate", "def main():", "--seed", "1", "--max-tokens", "48")
    assert result.stdout.strip() and result.stdout == again.stdout


def test_run_pixellm_is_logged_in_the_ledger(tmp_path):
    result = cli(tmp_path, "run", "pixellm", "--", "--seed", "2", "--max-tokens", "24", "import sys")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.strip()
    log = cli(tmp_path, "log", "--json")
    assert log.returncode == 0 and b"pixellm" in log.stdout


def test_non_utf8_prompt_on_stdin_is_a_one_line_error(tmp_path):
    result = cli(tmp_path, "model", "generate", "-", stdin=b"caf\xe9 au lait")
    err = result.stderr.decode().strip()
    assert result.returncode != 0 and "not valid UTF-8" in err and len(err.splitlines()) == 1


def test_eval_json(tmp_path):
    result = cli(tmp_path, "model", "eval", "--json", "--bytes", "2048")
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    assert {"bits_per_byte", "gzip_bits_per_byte", "xz_bits_per_byte", "size", "source"} <= set(data)


def test_plugin_entry_point_does_not_import_numpy():
    code = ("import sys, pxos_pixellm.plugin as p, pxos_pixellm.arguments, argparse\n"
            "for c in p.pxos_subcommands(): c.configure_parser(argparse.ArgumentParser())\n"
            "assert 'numpy' not in sys.modules, 'numpy imported at CLI start'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
