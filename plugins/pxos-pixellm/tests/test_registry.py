"""Model cartridges: register, list, show, lineage, guarded fine-tune and promotion, rollback, run by name."""

from __future__ import annotations

import json

import pytest

from pixellm_testmodels import TINY, random_tensors
from pxos_pixellm.container import save_model
from pxos_pixellm.engine import shipped_held_out_path

HELD_OUT = shipped_held_out_path().read_bytes()[:3000]


@pytest.fixture
def small_model(tmp_path):
    """A byte-level model a few steps of fine-tuning visibly change (random weights, context 64)."""
    config = type(TINY)(**{**TINY.to_dict(), "max_position_embeddings": 64})
    tensors = {k: v * (0.2 if v.ndim == 2 else 1.0) for k, v in random_tensors(config).items()}
    path = tmp_path / "small.pxi"
    save_model(path, config, tensors, encoding="fp32")
    return path


@pytest.fixture
def texts(tmp_path):
    held_out = tmp_path / "held-out.txt"
    held_out.write_bytes(HELD_OUT)
    return held_out


def cli_json(pxos_cli, *argv):
    code, out, err = pxos_cli(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_register_records_lineage_fields_and_the_first_version_is_current(pxos_cli, small_model, texts, tmp_path):
    data = tmp_path / "corpus.txt"
    data.write_text("print('hello')\n" * 20)
    record = cli_json(pxos_cli, "model", "register", str(small_model), "--name", "coder", "--method", "train",
                      "--training-data", str(data), "--eval-text", str(texts), "--eval-name", "stdlib excerpt")
    assert record["status"] == "current" and record["parent"] is None and record["method"] == "train"
    assert record["training_data"]["bytes"] == data.stat().st_size and len(record["training_data"]["sha256"]) == 64
    assert record["eval"]["text_name"] == "stdlib excerpt" and 0 < record["eval"]["bits_per_byte"] < 16
    assert record["smoke"]["passed"] and record["tokenizer"]["kind"] == "bytes"
    assert [r["version"] for r in cli_json(pxos_cli, "model", "list")] == ["v1"]
    shown = cli_json(pxos_cli, "model", "show", "coder")
    assert shown["version"] == "v1" and [h["action"] for h in shown["history"]] == ["register", "promote"]
    code, out, _ = pxos_cli("model", "generate", "def ", "--model", "coder", "--max-tokens", "8", "--seed", "1")
    assert code == 0 and out.strip()


def test_guarded_finetune_promotion_and_rollback(pxos_cli, pxos_kernel, small_model, texts, tmp_path):
    pytest.importorskip("torch")
    cli_json(pxos_cli, "model", "register", str(small_model), "--name", "coder", "--eval-text", str(texts))
    data = tmp_path / "train.txt"
    data.write_bytes(HELD_OUT)
    better = cli_json(pxos_cli, "model", "finetune", "coder", "--data", str(data), "--steps", "30", "--lr", "3e-3",
                      "--context", "32")
    assert better["status"] == "experimental" and better["parent"] == "coder@v1" and better["method"] == "fine-tune"
    assert better["training_data"]["sha256"] == __import__("hashlib").sha256(HELD_OUT).hexdigest()
    parent = cli_json(pxos_cli, "model", "show", "coder@v1")
    assert better["eval"]["text"] == parent["eval"]["text"]  # judged on the parent's very held-out bytes
    assert better["eval"]["bits_per_byte"] < parent["eval"]["bits_per_byte"]

    code, _, err = pxos_cli("model", "promote", "coder@v2", "--approved-by", "bot", "--reason", "r",
                            "--approver-kind", "llm")
    assert code != 0 and "only with a human's approval" in err
    promoted = cli_json(pxos_cli, "model", "promote", "coder@v2", "--approved-by", "alice", "--reason", "better")
    assert promoted["status"] == "current"

    wrecked = cli_json(pxos_cli, "model", "finetune", "coder", "--data", str(data), "--steps", "20", "--lr", "0.5",
                       "--context", "32", "--seed", "3")
    assert wrecked["parent"] == "coder@v2"
    code, _, err = pxos_cli("model", "promote", "coder@v3", "--approved-by", "alice", "--reason", "try")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert f"{wrecked['eval']['bits_per_byte']:.4f}" in err and f"{promoted['eval']['bits_per_byte']:.4f}" in err
    assert "regress" in err

    rolled = cli_json(pxos_cli, "model", "rollback", "coder", "--approved-by", "alice", "--reason", "back")
    assert rolled["version"] == "v1" and rolled["status"] == "current"
    assert [r["version"] for r in cli_json(pxos_cli, "model", "lineage", "coder@v3")] == ["v1", "v2", "v3"]
    assert [r["version"] for r in cli_json(pxos_cli, "model", "list", "coder")] == ["v1", "v2", "v3"]  # kept
    steps = [(r["op"], r["payload"].get("outcome")) for r in pxos_kernel.ledger.records() if r["type"] == "MODEL"]
    assert ("finetune", "started") in steps and ("promote", "refused") in steps and ("rollback", "done") in steps


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (b"caf\xe9\n", "is not UTF-8")])
def test_finetune_data_that_is_empty_or_not_utf8_is_one_line(pxos_cli, small_model, texts, tmp_path, content, message):
    cli_json(pxos_cli, "model", "register", str(small_model), "--name", "coder", "--eval-text", str(texts))
    data = tmp_path / "bad.txt"
    data.write_bytes(content)
    code, _, err = pxos_cli("model", "finetune", "coder", "--data", str(data))
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert [r["version"] for r in cli_json(pxos_cli, "model", "list", "coder")] == ["v1"]


def test_registered_versions_are_never_replaced(pxos_cli, small_model, texts):
    cli_json(pxos_cli, "model", "register", str(small_model), "--name", "coder", "--eval-text", str(texts))
    code, _, err = pxos_cli("model", "register", str(small_model), "--name", "coder", "--version", "v1",
                            "--eval-text", str(texts))
    assert code != 0 and "never replaced" in err


def test_run_pixellm_and_the_engine_select_a_model_by_name(pxos_cli, pxos_kernel, small_model, texts):
    """(The pixellm-local agent selecting one by name: tests/integration/test_agents_pixellm_models.py.)"""
    cli_json(pxos_cli, "model", "register", str(small_model), "--name", "coder", "--eval-text", str(texts))
    code, out, err = pxos_cli("run", "pixellm", "--", "--model", "coder@v1", "--max-tokens", "6", "--seed", "1", "x")
    assert code == 0 and out.strip(), err
    assert "coder" in pxos_kernel.engine("pixellm").models()


def test_a_corrupt_registry_is_refused_and_left_alone(pxos_cli, pxos_kernel, small_model):
    root = pxos_kernel.home / "inference" / "pixellm"
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.json").write_text("{not json")
    code, _, err = pxos_cli("model", "register", str(small_model), "--name", "coder")
    assert code != 0 and "corrupt" in err and (root / "registry.json").read_text() == "{not json"
