"""The engine from the command line: model generate / info --engine pixellm-gpu, run pixellm, the config."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROMPT = "import sys\n\nclass "


def cli(*args, home, env=None):
    environment = {**os.environ, "PXOS_HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *args], capture_output=True, text=True,
                          env=environment, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def home(tmp_path):
    return tmp_path / "pxos-home"


def greedy(*extra, home):
    result = cli("model", "generate", "--temperature", "0", "--max-tokens", "24", *extra, PROMPT, home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_generate_on_the_gpu_prints_what_numpy_prints(lavapipe, home):
    numpy_text = greedy(home=home)
    assert greedy("--engine", "pixellm-gpu", home=home) == numpy_text
    assert greedy("--engine", "pixellm-gpu", "--offload", "layers 1-2", home=home) == numpy_text


def test_offload_from_the_config_and_a_bad_one_in_one_line(lavapipe, home):
    home.mkdir()
    (home / "config.yaml").write_text("inference:\n  pixellm-gpu:\n    offload: layers 2-9\n")
    result = cli("model", "generate", "--engine", "pixellm-gpu", "--max-tokens", "4", PROMPT, home=home)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "pxos-kernel: error: offload 'layers 2-9': the model has layers 0-3\n"


def test_run_pixellm_on_the_gpu(lavapipe, home):
    args = ["--temperature", "0", "--max-tokens", "24", PROMPT]
    numpy_run = cli("run", "pixellm", "--", *args, home=home)
    gpu_run = cli("run", "pixellm", "--", "--engine", "pixellm-gpu", *args, home=home)
    assert gpu_run.returncode == 0 and numpy_run.returncode == 0, gpu_run.stderr + numpy_run.stderr
    assert gpu_run.stdout == numpy_run.stdout and gpu_run.stdout.strip()


def test_model_info_reports_the_adapter(lavapipe, home):
    text = cli("model", "info", "--engine", "pixellm-gpu", home=home)
    assert text.returncode == 0 and text.stdout.startswith("engine pixellm-gpu on ")
    assert "adapter" in text.stdout.splitlines()[0] and "limits: storage buffer" in text.stdout
    report = json.loads(cli("model", "info", "--engine", "pixellm-gpu", "--json", home=home).stdout)
    adapter = report["engine"]["adapter"]
    assert {"name", "backend", "software", "limits"} <= set(adapter) and report["tensors"]


def test_no_adapter_is_one_line_naming_the_package(lavapipe, home):
    nowhere = {"VK_ICD_FILENAMES": "/nonexistent.json", "VK_DRIVER_FILES": "/nonexistent.json"}
    result = cli("model", "generate", "--engine", "pixellm-gpu", "x", home=home, env=nowhere)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert "no usable GPU adapter" in result.stderr and "apt-get install mesa-vulkan-drivers" in result.stderr


def test_inspect_reports_the_adapter(lavapipe, home):
    report = json.loads(cli("inspect", "--engines", "--json", home=home).stdout)["engines"]["pixellm-gpu"]
    assert report["adapter"]["backend"] == "Vulkan" and isinstance(report["adapter"]["software"], bool)
    text = cli("inspect", "--engines", home=home).stdout
    assert "engine pixellm-gpu on " in text and "limits: storage buffer" in text
