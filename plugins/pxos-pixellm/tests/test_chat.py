"""Chat: the model's own chat template, rendered as transformers renders it; plainly refused without one."""

from __future__ import annotations

import pytest

from pixellm_testmodels import CASES, build_hf_model, chat_pixel_model
from pxos_kernel import GenerationRequest, InferenceError
from pxos_pixellm.convert import convert
from pxos_pixellm.engine import PixelEngine

MESSAGES = [{"role": "user", "content": "What does decode do?"}, {"role": "assistant", "content": "It parses."},
            {"role": "user", "content": "And encode?"}]


@pytest.mark.parametrize("case", [c for c in CASES if c.template], ids=lambda c: c.id)
def test_chat_template_renders_and_tokenizes_like_transformers(tmp_path, case):
    transformers = pytest.importorskip("transformers")
    _, directory = build_hf_model(tmp_path, case)
    convert(directory, tmp_path / "m.pxi", encoding="fp32")
    engine = PixelEngine({})
    model = str(tmp_path / "m.pxi")
    reference = transformers.AutoTokenizer.from_pretrained(directory)
    prompt = engine.chat_prompt(model, MESSAGES)
    assert prompt == reference.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    expected = reference.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True)
    expected = expected["input_ids"] if hasattr(expected, "keys") else expected
    assert engine.tokenizer(model).encode(prompt, add_special_tokens=False) == list(expected)


def test_chat_stops_at_the_end_of_turn_token(tmp_path):
    engine = PixelEngine({})
    model = str(chat_pixel_model(tmp_path / "m.pxi"))
    chunks = list(engine.chat(GenerationRequest("", model=model, max_tokens=400, temperature=1.0, seed=1), MESSAGES))
    assert chunks[-1].finish_reason in ("stop", "length") and "<|im_end|>" not in "".join(c.text for c in chunks)


def test_a_model_without_a_template_is_refused_plainly(tmp_path):
    engine = PixelEngine({})
    with pytest.raises(InferenceError, match="model 'default' has no chat template \\(it is a completion model\\)"):
        engine.chat_prompt(None, MESSAGES)
    model = str(chat_pixel_model(tmp_path / "plain.pxi", template=None))
    with pytest.raises(InferenceError, match="has no chat template"):
        list(engine.chat(GenerationRequest("", model=model), MESSAGES))


def test_model_chat_answers_one_message_and_a_conversation(pxos_cli, tmp_path, monkeypatch):
    import io

    model = str(chat_pixel_model(tmp_path / "m.pxi"))
    code, out, err = pxos_cli("model", "chat", "hello", "--model", model, "--seed", "2", "--max-tokens", "12")
    assert code == 0 and out.strip(), err
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nand then?\n"))
    code, again, err = pxos_cli("model", "chat", "--model", model, "--seed", "2", "--max-tokens", "12")
    assert code == 0, err
    assert again.splitlines()[0] == out.splitlines()[0] and len(again.splitlines()) >= 2


def test_model_chat_without_a_template_is_one_line(pxos_cli):
    code, out, err = pxos_cli("model", "chat", "hello")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "no chat template" in err and "Traceback" not in err


def test_model_chat_json_prints_the_conversation(pxos_cli, tmp_path, monkeypatch):
    import io
    import json

    model = str(chat_pixel_model(tmp_path / "m.pxi"))
    flags = ("--model", model, "--seed", "2", "--max-tokens", "12")
    code, streamed, err = pxos_cli("model", "chat", "hello", *flags)
    assert code == 0, err
    code, out, err = pxos_cli("model", "chat", "hello", *flags, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["model"] == model and [m["role"] for m in result["messages"]] == ["user", "assistant"]
    assert result["messages"][1]["content"] == streamed[:-1]
    [reply] = result["replies"]
    assert 0 < reply["tokens"] <= 12 and reply["finish_reason"] in ("stop", "length")
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\nand then?\n"))
    code, out, err = pxos_cli("model", "chat", *flags, "--json", "--system", "be brief")
    result = json.loads(out)
    assert code == 0 and [m["role"] for m in result["messages"]] == ["system", "user", "assistant", "user",
                                                                      "assistant"]
    assert len(result["replies"]) == 2
