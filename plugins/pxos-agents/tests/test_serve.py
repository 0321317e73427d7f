"""pxos-kernel serve, driven by the official openai client (and raw HTTP for what a client never sends)."""

import http.client
import json
import threading
import time

import openai
import pytest

from pxos_agents.ngram import NgramPlugin
from pxos_agents.serve.protocol import Limits
from pxos_agents.serve.server import serve

from conftest import CORPUS


@pytest.fixture
def server(pxos_kernel):
    pxos_kernel.plugins.register(NgramPlugin(CORPUS), "test-engine")
    pxos_kernel.plugins.register(NgramPlugin(CORPUS, name="slow-engine", delay=0.05), "slow-engine")
    srv = serve(pxos_kernel, "127.0.0.1", 0, Limits(max_body_bytes=64 * 1024, max_tokens=200), quiet=True)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=30)


def test_models_lists_every_engine(client):
    listed = {m.id: m.owned_by for m in client.models.list().data}  # other installed engines (pixellm) too
    assert listed["slow-engine/ngram-12"] == "slow-engine" and listed["test-engine/ngram-12"] == "test-engine"


def test_completion_matches_the_engine_in_process(client):
    reply = client.completions.create(model="test-engine/ngram-12", prompt="```file:calc.py\n", max_tokens=100,
                                      temperature=0, stop=["```"])
    assert reply.choices[0].text == "def add(a, b):\n    return a + b\n"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == len("def add(a, b):\n    return a + b\n```")
    short = client.completions.create(model="test-engine/ngram-12", prompt="def", max_tokens=5, temperature=0)
    assert len(short.choices[0].text) == 5 and short.choices[0].finish_reason == "length"


def test_streamed_completion_and_chat(client):
    stream = client.completions.create(model="test-engine/ngram-12", prompt="```file:calc.py\n", max_tokens=100,
                                       temperature=0, stop=["```"], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks) == "def add(a, b):\n    return a + b\n"
    assert len(chunks) >= 2 and chunks[-1].choices[0].finish_reason == "stop"
    slow = list(client.completions.create(model="slow-engine", prompt="a", max_tokens=4, stream=True, seed=1))
    assert [len(c.choices[0].text) for c in slow] == [1, 1, 1, 1, 0]  # a slow engine streams token by token
    chat = client.chat.completions.create(model="test-engine", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=20, seed=3, stream=True)
    pieces = list(chat)
    assert pieces[0].choices[0].delta.role == "assistant"
    text = "".join(p.choices[0].delta.content or "" for p in pieces)
    assert len(text) == 20 and pieces[-1].choices[0].finish_reason == "length"
    whole = client.chat.completions.create(model="test-engine", messages=[{"role": "user", "content": "hi"}],
                                           max_tokens=20, seed=3)
    assert whole.choices[0].message.content == text


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="nope", prompt="x")
    assert info.value.body["code"] == "model_not_found" and info.value.body["param"] == "model"


def test_bad_parameters_are_400(client):
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.completions.create(model="test-engine", prompt="x", max_tokens=100000)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model="test-engine", prompt="x", temperature=7)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="test-engine", messages=[])
    with pytest.raises(openai.BadRequestError, match="prompt"):
        client.completions.create(model="test-engine", prompt=[1, 2])


def _raw(server, method, path, body=b"", headers=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    return response.status, data


def test_malformed_json_oversized_body_and_unknown_route(server):
    status, body = _raw(server, "POST", "/v1/completions", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert "could not parse the JSON body" in body["error"]["message"]
    status, body = _raw(server, "POST", "/v1/completions", b"[1]")
    assert status == 400 and "JSON object" in body["error"]["message"]
    status, body = _raw(server, "POST", "/v1/completions", b"x" * (64 * 1024 + 1))
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, body = _raw(server, "GET", "/v1/engines")
    assert status == 404 and body["error"]["code"] == "unknown_url"


def test_oversized_request_through_the_client(client):
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="test-engine", prompt="x" * 70_000)
    assert info.value.status_code == 413


def test_a_slow_request_does_not_block_others(client):
    slow_done = []

    def slow():
        client.completions.create(model="slow-engine", prompt="a", max_tokens=60)  # 60 x 50 ms = 3 s
        slow_done.append(time.perf_counter())

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    start = time.perf_counter()
    client.completions.create(model="test-engine", prompt="a", max_tokens=50)
    fast_done = time.perf_counter()
    assert fast_done - start < 1.0
    thread.join(30)
    assert slow_done and slow_done[0] > fast_done
