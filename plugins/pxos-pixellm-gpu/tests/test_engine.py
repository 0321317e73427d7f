"""The engine through the kernel's interfaces: conformance, the generation options, the adapter report."""

from __future__ import annotations

import pytest

from pxos_kernel import GenerationRequest
from pxos_kernel.testing import EngineConformance


class TestGpuEngineConformance(EngineConformance):
    pass  # the session's ``engine`` fixture: the shipped model on the GPU


def text_of(engine, request):
    return "".join(c.text for c in engine.generate(request))


@pytest.mark.parametrize("options", [
    {"temperature": 1.0, "seed": 11},
    {"temperature": 0.8, "top_k": 5, "seed": 12},
    {"temperature": 0.9, "top_p": 0.9, "seed": 13},
], ids=["temperature", "top-k", "top-p"])
def test_sampling_options_mean_what_they_mean_for_pixellm(engine, numpy_engine, tiny_path, options):
    request = GenerationRequest("pixels", model=str(tiny_path), max_tokens=40, **options)
    text = text_of(engine, request)
    assert text == text_of(numpy_engine, request)
    assert text != text_of(engine, GenerationRequest("pixels", model=str(tiny_path), max_tokens=40, temperature=0))


def test_a_stop_string_stops_where_pixellm_stops(engine, numpy_engine, tiny_path):
    free = text_of(numpy_engine, GenerationRequest("stop", model=str(tiny_path), max_tokens=40, temperature=0))
    # An ASCII character from the middle of the text (random weights also make bytes that are not UTF-8,
    # shown as U+FFFD, which stop strings do not match).
    stop = next(ch for ch in free[len(free) // 3:] if ch.isascii() and ch.isprintable())
    request = GenerationRequest("stop", model=str(tiny_path), max_tokens=40, temperature=0, stop=(stop,))
    chunks = list(engine.generate(request))
    assert "".join(c.text for c in chunks) == text_of(numpy_engine, request) == free[:free.index(stop)]
    assert chunks[-1].finish_reason == "stop"


def test_output_streams_in_pieces_and_ends_with_a_reason(engine, tiny_path):
    chunks = list(engine.generate(GenerationRequest("for i in range(", model=str(tiny_path), max_tokens=24,
                                                    temperature=0)))
    assert len(chunks) > 1 and chunks[-1].finish_reason == "length"
    assert sum(c.tokens for c in chunks) == 24


def test_describe_reports_the_adapter(engine):
    report = engine.describe()
    adapter = report["adapter"]
    assert adapter["backend"] in ("Vulkan", "Metal", "DX12") and isinstance(adapter["software"], bool)
    assert adapter["limits"]["max-storage-buffer-binding-size"] > 0
    assert report["engine"] == "pixellm-gpu" and report["offload"] == "all"
