"""Tokenizers in the pixels: stored tokenizer.json, GGUF vocabularies rebuilt, and every bad tokenizer input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixellm_testmodels import CASES, TINY, build_hf_model, chat_pixel_model, random_tensors, trained_tokenizer
from pxos_kernel import FormatError, InferenceError
from pxos_pixellm.config import ModelConfig
from pxos_pixellm.container import open_model, save_model
from pxos_pixellm.convert import convert
from pxos_pixellm.tokenizer import ByteTokenizer, tokenizer_section

TEXTS = ["def decode(self, s):\n    return self.raw", "  leading spaces and ünïcödé ☃ \t tabs", "x" * 30 + " 12345"]


def test_the_container_is_self_contained(tmp_path):
    path = chat_pixel_model(tmp_path / "m.pxi")
    model = open_model(path)
    assert model.tokenizer_json() == trained_tokenizer("qwen2").encode()
    assert model.tokenizer().chat_template and model.tokenizer().eos_token_ids


def test_streaming_decode_gives_the_whole_text(tmp_path):
    tokenizer = open_model(chat_pixel_model(tmp_path / "m.pxi")).tokenizer()
    for text in TEXTS:
        ids = tokenizer.encode(text)
        stream = tokenizer.stream()
        pieces = [stream.push(i) for i in ids] + [stream.flush()]
        assert "".join(pieces) == tokenizer.decode(ids) == text


def test_byte_tokenizer_is_one_kind_among_them():
    tokenizer = ByteTokenizer()
    assert tokenizer.encode("é") == [0xC3, 0xA9] and tokenizer.decode([0xC3, 0xA9]) == "é"
    with pytest.raises(InferenceError, match="not valid UTF-8"):
        tokenizer.encode(b"caf\xe9")


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    blob = trained_tokenizer("qwen2").encode()
    config = ModelConfig(**{**TINY.to_dict(), "tokenizer": "hf", "vocab_size": 256})
    section = tokenizer_section("hf", blob=blob)
    with pytest.raises(FormatError, match="the tokenizer has 320 tokens but the model's vocab_size is 256"):
        save_model(tmp_path / "m.pxi", config, random_tensors(config), tokenizer=(section, blob))
    assert not (tmp_path / "m.pxi").exists()


def test_a_tokenizer_json_that_does_not_match_the_checkpoint_is_refused(tmp_path):
    _, directory = build_hf_model(tmp_path, CASES[0])
    vocab = json.loads((directory / "config.json").read_text())["vocab_size"]
    (directory / "tokenizer.json").write_text(trained_tokenizer("sentencepiece", vocab=600))  # another model's
    with pytest.raises(FormatError, match=f"the tokenizer has 60[0-9] tokens but the model's vocab_size is {vocab}"):
        convert(directory, tmp_path / "x.pxi")
    assert not (tmp_path / "x.pxi").exists()


def test_a_prompt_the_tokenizer_cannot_encode_is_one_clear_line(tmp_path):
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(unk_token="<unk>"))  # no byte fallback: characters it never saw have no token
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["plain ascii text only"], trainers.BpeTrainer(vocab_size=60, special_tokens=["<unk>"],
                                                                           show_progress=False))
    blob = tok.to_str().encode()
    config = ModelConfig(**{**TINY.to_dict(), "tokenizer": "hf", "vocab_size": 64})
    save_model(tmp_path / "m.pxi", config, random_tensors(config), tokenizer=(tokenizer_section("hf", blob=blob), blob))
    tokenizer = open_model(tmp_path / "m.pxi").tokenizer()
    assert tokenizer.encode("plain text")
    with pytest.raises(InferenceError, match="character '☃' at position 6 has no token"):
        tokenizer.encode("plain ☃")


def _gguf_without_hf_json(source, dest):
    """A copy of a pxOS-written GGUF without tokenizer.huggingface.json: only llama.cpp's vocabulary keys."""
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(source))
    writer = gguf.GGUFWriter(str(dest), reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "tokenizer.huggingface.json"):
            continue
        value = field.contents()
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value, gguf.GGUFValueType.ARRAY, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, value, field.types[0])
    for t in reader.tensors:
        writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=["llama-sentencepiece", "gpt2-byte-level"])
def test_gguf_vocabulary_is_rebuilt_like_transformers_reads_it(tmp_path, case):
    transformers = pytest.importorskip("transformers")
    _, directory = build_hf_model(tmp_path, case)
    pixel = tmp_path / "m.pxi"
    convert(directory, pixel, encoding="fp32")
    convert(pixel, tmp_path / "full.gguf")
    _gguf_without_hf_json(tmp_path / "full.gguf", tmp_path / "plain.gguf")
    convert(tmp_path / "plain.gguf", tmp_path / "back.pxi", encoding="fp32")
    ours = open_model(tmp_path / "back.pxi").tokenizer()
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="plain.gguf")
    original = open_model(pixel).tokenizer()
    for text in TEXTS:
        assert ours.encode(text) == reference(text)["input_ids"] == original.encode(text), text
        ids = ours.encode(text)
        assert ours.decode(ids) == original.decode(ids)


def test_gguf_with_an_unsupported_tokenizer_type_is_refused(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "bert-vocab.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    for key, value in (("llama.context_length", 32), ("llama.embedding_length", 32), ("llama.block_count", 1),
                       ("llama.feed_forward_length", 64), ("llama.attention.head_count", 4)):
        writer.add_uint32(key, value)
    writer.add_tokenizer_model("bert")
    writer.add_token_list([f"t{i}" for i in range(256)])
    config = ModelConfig(**{**TINY.to_dict(), "num_hidden_layers": 1, "num_key_value_heads": 4})
    for name, values in random_tensors(config).items():
        writer.add_tensor(name.replace("model.embed_tokens", "token_embd").replace("model.norm", "output_norm")
                          .replace("lm_head", "output").replace("model.layers.0.", "blk.0.")
                          .replace("input_layernorm", "attn_norm").replace("self_attn.q_proj", "attn_q")
                          .replace("self_attn.k_proj", "attn_k").replace("self_attn.v_proj", "attn_v")
                          .replace("self_attn.o_proj", "attn_output").replace("post_attention_layernorm", "ffn_norm")
                          .replace("mlp.gate_proj", "ffn_gate").replace("mlp.up_proj", "ffn_up")
                          .replace("mlp.down_proj", "ffn_down"), values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(FormatError, match="unsupported GGUF tokenizer type 'bert' \\(supported: llama"):
        convert(path, tmp_path / "x.pxi")
    convert(path, tmp_path / "logits-only.pxi", tokenizer="none")  # still importable without its vocabulary
    assert open_model(tmp_path / "logits-only.pxi").tokenizer() is None
