"""Conversions: Hugging Face safetensors and GGUF in, safetensors out; logits must survive each trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixellm_testmodels import hf_llama, hf_logits
from pxos_kernel import FormatError
from pxos_pixellm.container import load_model
from pxos_pixellm.convert import convert, permute_rotary
from pxos_pixellm.model import Transformer

IDS = np.random.default_rng(7).integers(0, 300, 24)


def pixel_logits(path, ids=IDS):
    loaded = load_model(path)
    return Transformer(loaded.config, loaded.tensors).forward(ids)


@pytest.mark.parametrize("tie", [False, True])
def test_hf_import_gives_the_same_logits(tmp_path, tie):
    hf, directory = hf_llama(tmp_path, tie=tie)
    out = tmp_path / "m.pxi"
    summary = convert(directory, out, encoding="fp32")
    assert summary["parameters"] == sum(p.numel() for p in hf.parameters())
    np.testing.assert_allclose(pixel_logits(out), hf_logits(hf, IDS), atol=2e-4, rtol=1e-4)


def test_bf16_checkpoint_imports_losslessly_and_exports_as_bf16(tmp_path):
    torch = pytest.importorskip("torch")
    hf, directory = hf_llama(tmp_path, dtype="bfloat16")
    out = tmp_path / "m.pxi"
    convert(directory, out, encoding="bf16")
    loaded = load_model(out)
    for name, param in hf.state_dict().items():
        np.testing.assert_array_equal(loaded.tensors[name], param.float().numpy())
    exported = tmp_path / "exported"
    convert(out, exported)
    from safetensors.torch import load_file

    back = load_file(exported / "model.safetensors")
    assert all(back[name].dtype == torch.bfloat16 and torch.equal(back[name], param)
               for name, param in hf.state_dict().items())


def test_export_loads_in_transformers_with_the_same_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    hf, directory = hf_llama(tmp_path, kv_heads=1)
    pixel = tmp_path / "m.pxi"
    convert(directory, pixel, encoding="fp32")
    exported = tmp_path / "exported"
    convert(pixel, exported)
    reloaded = transformers.LlamaForCausalLM.from_pretrained(exported).eval()
    np.testing.assert_allclose(hf_logits(reloaded, IDS), hf_logits(hf, IDS), atol=1e-5)
    assert json.loads((exported / "config.json").read_text())["pxos_tokenizer"] == "none"


def write_gguf(path, hf, *, arch="llama"):
    """A GGUF file the way llama.cpp's converter writes a Llama (q/k rows permuted), in float32."""
    gguf = pytest.importorskip("gguf")
    c = hf.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for name, param in hf.state_dict().items():
        values = param.float().numpy()
        if name == "model.embed_tokens.weight":
            target = "token_embd.weight"
        elif name == "model.norm.weight":
            target = "output_norm.weight"
        elif name == "lm_head.weight":
            target = "output.weight"
        else:
            _, _, layer, *rest = name.split(".")
            module = ".".join(rest[:-1])
            target = f"blk.{layer}.{names[module]}.weight"
            if module == "self_attn.q_proj":
                values = permute_rotary(values, c.num_attention_heads)
            elif module == "self_attn.k_proj":
                values = permute_rotary(values, c.num_key_value_heads)
        writer.add_tensor(target, np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_import_gives_the_same_logits(tmp_path):
    hf, _ = hf_llama(tmp_path, kv_heads=2)
    source = tmp_path / "tiny.gguf"
    write_gguf(source, hf)
    out = tmp_path / "from-gguf.pxi"
    convert(source, out, encoding="fp32")
    np.testing.assert_allclose(pixel_logits(out), hf_logits(hf, IDS), atol=2e-4, rtol=1e-4)


def test_int8_import_stays_close(tmp_path):
    hf, directory = hf_llama(tmp_path)
    out = tmp_path / "q.pxi"
    convert(directory, out, encoding="int8")
    reference = hf_logits(hf, IDS)
    error = np.abs(pixel_logits(out) - reference).max()
    assert error < 0.05 * np.abs(reference).max()


def test_unsupported_architecture_is_refused(tmp_path):
    hf, directory = hf_llama(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "gpt2",
                                                       "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(FormatError, match="unsupported architecture 'gpt2'.*supported: llama .*mistral.*qwen2"):
        convert(directory, tmp_path / "x.pxi")
    assert not (tmp_path / "x.pxi").exists()


def test_config_and_tensors_that_disagree_are_one_error(tmp_path):
    hf, directory = hf_llama(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "attention_bias": True}))
    with pytest.raises(FormatError, match="tensor model.layers.0.self_attn.q_proj.bias is missing"):
        convert(directory, tmp_path / "x.pxi")
    (directory / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(FormatError, match="model.layers.2.* is missing"):
        convert(directory, tmp_path / "x.pxi")
    assert not (tmp_path / "x.pxi").exists()


def test_llama_with_mlp_biases_is_refused_by_name(tmp_path):
    hf, directory = hf_llama(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "mlp_bias": True}))
    with pytest.raises(FormatError, match="mlp_bias"):
        convert(directory, tmp_path / "x.pxi")


def test_gguf_of_another_architecture_is_refused(tmp_path):
    hf, _ = hf_llama(tmp_path)
    source = tmp_path / "other.gguf"
    write_gguf(source, hf, arch="gpt2")
    with pytest.raises(FormatError, match="unsupported architecture 'gpt2'"):
        convert(source, tmp_path / "x.pxi")


def test_garbage_gguf_is_a_format_error(tmp_path):
    source = tmp_path / "bad.gguf"
    source.write_bytes(b"not a gguf file at all")
    with pytest.raises(FormatError, match="not a readable GGUF"):
        convert(source, tmp_path / "x.pxi")


def test_directory_without_weights_is_an_error(tmp_path):
    hf, directory = hf_llama(tmp_path)
    (directory / "model.safetensors").unlink()
    with pytest.raises(FormatError, match="no \\*.safetensors"):
        convert(directory, tmp_path / "x.pxi")
