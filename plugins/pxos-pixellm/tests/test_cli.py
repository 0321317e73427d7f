"""The ``model ...`` commands and ``run pixellm`` through the real CLI, on the shipped model."""

from __future__ import annotations

import json

import pytest

from pxos_kernel.testing import EngineConformance
from pxos_pixellm.engine import PixelEngine, shipped_model_path


class TestPixellmConformance(EngineConformance):
    @pytest.fixture
    def engine(self, tmp_path):
        engine = PixelEngine({"root": str(tmp_path)})
        yield engine
        engine.close()


def test_kernel_serves_the_engine(pxos_kernel):
    engine = pxos_kernel.engine("pixellm")
    assert "default" in engine.models()


def test_generate_prints_text_and_the_seed_repeats_it(pxos_cli):
    code, first, err = pxos_cli("model", "generate", "def main():", "--seed", "5", "--max-tokens", "40")
    assert code == 0, err
    assert len(first.strip()) > 0
    assert pxos_cli("model", "generate", "def main():", "--seed", "5", "--max-tokens", "40")[1] == first


def test_generate_stops_at_the_stop_string(pxos_cli):
    code, free, _ = pxos_cli("model", "generate", "class A:", "--seed", "2", "--max-tokens", "60")
    generated = free[:-1]  # the command ends the output with a newline
    stop = generated[1:3]
    code, out, _ = pxos_cli("model", "generate", "class A:", "--seed", "2", "--max-tokens", "60", "--stop", stop)
    assert code == 0 and out[:-1] == generated[: generated.index(stop)]


def test_run_pixellm_program_generates(pxos_cli):
    code, out, err = pxos_cli("run", "pixellm", "--", "--seed", "1", "--max-tokens", "20", "import", "os")
    assert code == 0, err
    assert out.strip()


@pytest.mark.parametrize("prompt,message", [("", "prompt is empty"), ("a\udcff", "not valid UTF-8")])
def test_bad_prompts_are_one_line_errors(pxos_cli, prompt, message):
    code, out, err = pxos_cli("model", "generate", prompt, "--max-tokens", "3")
    assert code != 0 and message in err and "Traceback" not in err


def test_engine_flags_are_checked(pxos_cli):
    code, _, err = pxos_cli("model", "generate", "x", "--engine", "no-such-engine")
    assert code == 1 and "no-such-engine" in err and len(err.splitlines()) == 1
    code, _, err = pxos_cli("model", "generate", "x", "--offload", "all")
    assert code == 2 and "--offload chooses the layers a GPU engine runs" in err


def test_unknown_model_is_an_error(pxos_cli):
    code, _, err = pxos_cli("model", "generate", "x", "--model", "no-such-model")
    assert code != 0 and "no-such-model" in err


def test_info_json_lists_the_directory(pxos_cli):
    code, out, err = pxos_cli("model", "info", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["config"]["tokenizer"] == "bytes"
    names = {t["name"] for t in info["tensors"]}
    assert "model.embed_tokens.weight" in names and all({"shape", "encoding", "offset", "length"} <= set(t)
                                                        for t in info["tensors"])


def test_info_table(pxos_cli):
    code, out, _ = pxos_cli("model", "info")
    assert code == 0 and "model.layers.0.self_attn.q_proj.weight" in out


def test_show_writes_a_png_picture(pxos_cli, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    out = tmp_path / "weights.png"
    code, _, err = pxos_cli("model", "picture", "--out", str(out), "--tensor", "model.embed_tokens.weight")
    assert code == 0, err
    with Image.open(out) as image:
        assert image.size == (256, 256)
        colors = image.getcolors(maxcolors=1 << 20)
        assert len(colors) > 100  # a real picture of varied weights, not a blank


def test_show_unknown_tensor_is_an_error(pxos_cli, tmp_path):
    code, _, err = pxos_cli("model", "picture", "--out", str(tmp_path / "x.png"), "--tensor", "nope")
    assert code != 0 and "nope" in err and not (tmp_path / "x.png").exists()


def test_eval_json_has_the_keys(pxos_cli):
    code, out, err = pxos_cli("model", "eval", "--json", "--bytes", "1024")
    assert code == 0, err
    result = json.loads(out)
    assert {"bits_per_byte", "gzip_bits_per_byte", "xz_bits_per_byte", "size", "source"} <= set(result)
    assert result["size"] == 1024
    assert 0 < result["bits_per_byte"] < 8  # better than knowing nothing; the target is in test_shipped_model


def test_eval_shows_a_bar_on_a_terminal_and_nothing_when_piped(pxos_home):
    import os
    import subprocess
    import sys

    from pxos_kernel.testing import run_on_terminal

    env = {k: v for k, v in os.environ.items() if k not in ("PXOS_QUIET", "TERM")}
    command = [sys.executable, "-m", "pxos_kernel", "model", "eval", "--json", "--bytes", "1024"]
    shown = run_on_terminal(command, env=env)
    assert shown.exit_code == 0, shown.terminal
    assert "bits per byte: 100%" in shown.terminal and "token" in shown.terminal
    assert json.loads(shown.stdout)["size"] == 1024  # the bar never reaches stdout
    quiet = run_on_terminal([*command[:3], "--quiet", *command[3:]], env=env)
    assert (quiet.exit_code, quiet.terminal) == (0, "")
    piped = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert (piped.returncode, piped.stderr) == (0, "")
    assert json.loads(piped.stdout) == json.loads(shown.stdout) == json.loads(quiet.stdout)


def test_convert_installs_into_the_model_directory_and_exports(pxos_cli, pxos_kernel, tmp_path):
    models = pxos_kernel.engine("pixellm").models_dir
    models.mkdir(parents=True)
    exported = tmp_path / "hf"
    code, _, err = pxos_cli("model", "convert", str(shipped_model_path()), "--out", str(exported))
    assert code == 0, err
    code, out, err = pxos_cli("model", "convert", str(exported), "--out", str(models / "again.pxi"), "--json")
    assert code == 0, err and json.loads(out)["tensors"] > 0
    one = pxos_cli("model", "generate", "x = ", "--seed", "3", "--max-tokens", "20", "--model", "again")
    two = pxos_cli("model", "generate", "x = ", "--seed", "3", "--max-tokens", "20")
    assert one[0] == 0 and one[1] == two[1]


def test_convert_of_a_missing_source_is_an_error(pxos_cli, tmp_path):
    code, _, err = pxos_cli("model", "convert", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.pxi"))
    assert code != 0 and "no such file" in err


def _damaged(tmp_path, change):
    from pxos_kernel.container import write_container
    from pxos_pixellm import read_model_meta

    meta = read_model_meta(shipped_model_path())
    meta = {"config": meta["config"], "tensors": meta["tensors"], "info": {}}
    change(meta)
    path = tmp_path / "damaged.pxi"
    write_container(path, bytes(16), kind="model", meta=meta)
    return path


@pytest.mark.parametrize("change, problem", [
    (lambda m: m.update(config=5), "the config is not an object"),
    (lambda m: m.pop("config"), "the config is not an object"),
    (lambda m: m["config"].pop("hidden_size"), "missing config field(s) hidden_size"),
    (lambda m: m.update(tensors="x"), "the metadata has no tensor directory"),
    (lambda m: m["tensors"][0].pop("shape"), "malformed tensor directory entry"),
])
def test_model_info_of_damaged_metadata_is_one_line_and_the_file_is_kept(pxos_cli, tmp_path, change, problem):
    path = _damaged(tmp_path, change)
    before = path.read_bytes()
    for argv in (("model", "info", str(path)), ("model", "info", str(path), "--json")):
        code, out, err = pxos_cli(*argv)
        assert (code, out) == (1, "") and len(err.splitlines()) == 1, err
        assert err.startswith(f"pxos-kernel: error: {path}: {problem}"), err
    assert path.read_bytes() == before


def test_generate_json_prints_one_object_with_the_text_it_would_stream(pxos_cli):
    flags = ("model", "generate", "def main():", "--seed", "5", "--max-tokens", "40")
    code, streamed, err = pxos_cli(*flags)
    assert code == 0, err
    code, out, err = pxos_cli(*flags, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["text"] == streamed[:-1]  # the same text; streaming only adds the final newline
    assert result["tokens"] == 40 and result["finish_reason"] == "length" and result["prompt_tokens"] == 11
    assert result["model"] == str(shipped_model_path()) and result["engine"] == "pixellm"
    assert result["seconds"] > 0 and result["tokens_per_second"] > 0 and result["sampling"]["seed"] == 5


def test_generate_json_says_it_stopped_at_the_stop_string(pxos_cli):
    code, free, _ = pxos_cli("model", "generate", "class A:", "--seed", "2", "--max-tokens", "60")
    stop = free[1:3]
    code, out, err = pxos_cli("model", "generate", "class A:", "--seed", "2", "--max-tokens", "60", "--stop", stop,
                              "--json")
    result = json.loads(out)
    assert code == 0 and result["finish_reason"] == "stop" and result["text"] == free[: free.index(stop)]
    assert result["tokens"] < 60 and result["sampling"]["stop"] == [stop]


def test_picture_json_reports_the_file(pxos_cli, tmp_path):
    out = tmp_path / "weights.png"
    code, printed, err = pxos_cli("model", "picture", "--out", str(out), "--tensor", "model.embed_tokens.weight",
                                  "--json")
    assert code == 0, err
    result = json.loads(printed)
    assert result == {"model": str(shipped_model_path()), "path": str(out), "width": 256, "height": 256,
                      "tensors": ["model.embed_tokens.weight"]}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
