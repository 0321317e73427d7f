"""openai-compatible against a real `serve` on loopback: consent, ledger logging, retries, timeouts."""

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pxos_kernel import AgentError, NetworkConsentError, Task
from pxos_kernel.testing import AgentConformance

from pxos_agents.consent import grant
from pxos_agents.ngram import NgramPlugin
from pxos_agents.remote import OpenAICompatibleAgent
from pxos_agents.serve.server import serve

from conftest import CALC, CORPUS

SECRET = "sk-test-secret-that-must-never-be-logged"


@pytest.fixture
def upstream(pxos_kernel):
    pxos_kernel.plugins.register(NgramPlugin(CORPUS), "test-engine")
    srv = serve(pxos_kernel, "127.0.0.1", 0, quiet=True)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()


class Proxy(ThreadingHTTPServer):
    """Forwards to the real server; can fail the first ``fail`` requests with 503 or stall each by ``delay``."""

    daemon_threads = True

    def __init__(self, target, fail=0, delay=0.0):
        self.target, self.fail, self.delay, self.seen = target, fail, delay, []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, self.headers))  # case-insensitive
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.fail > 0:
            self.server.fail -= 1
            data = b'{"error": {"message": "overloaded", "type": "server_error", "param": null, "code": null}}'
            status, ctype = 503, "application/json"
        else:
            host, port = self.server.target.server_address[:2]
            conn = http.client.HTTPConnection(host, port, timeout=30)
            try:
                conn.request(self.command, self.path, body=body or None,
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                data, status, ctype = response.read(), response.status, response.getheader("Content-Type")
            except OSError:  # the test is over and the real server gone: nobody is listening any more
                return
            finally:
                conn.close()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward


def _agent(kernel, url, **extra):
    settings = {"kernel": kernel, "base_url": url, "max_tokens": 40, "model": "test-engine/ngram-12", **extra}
    return OpenAICompatibleAgent(settings)


class TestOpenAICompatible(AgentConformance):
    @pytest.fixture
    def agent(self, pxos_kernel, upstream):
        grant(pxos_kernel.home, ["127.0.0.1"])
        return _agent(pxos_kernel, upstream.url)

    @pytest.fixture
    def broken_agent(self, pxos_kernel):
        import socket

        grant(pxos_kernel.home, ["127.0.0.1"])
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return _agent(pxos_kernel, f"http://127.0.0.1:{port}/v1", max_retries=1)


def test_without_consent_nothing_is_sent(pxos_kernel, upstream):
    proxy = Proxy(upstream)
    agent = _agent(pxos_kernel, proxy.url)
    readiness = agent.ready()
    assert not readiness.ok and "no network consent for host 127.0.0.1" in readiness.reason
    with pytest.raises(NetworkConsentError, match="agent consent grant 127.0.0.1"):
        agent.propose(Task("x", files={"calc.py": CALC}))
    assert proxy.seen == []
    proxy.shutdown()


def test_transport_refuses_a_host_even_if_called_directly(pxos_kernel, upstream):
    agent = _agent(pxos_kernel, upstream.url)
    with pytest.raises(NetworkConsentError):
        agent.client().models.list()  # bypassing the agent's own check: the transport still refuses
    refused = [r for r in pxos_kernel.ledger.records() if r["type"] == "NET"]
    assert refused and refused[0]["payload"]["error"].startswith("refused")


def test_every_request_is_in_the_ledger_and_the_key_never_is(pxos_kernel, upstream, monkeypatch):
    monkeypatch.setenv("PXOS_TEST_KEY", SECRET)
    grant(pxos_kernel.home, ["127.0.0.1"])
    proxy = Proxy(upstream)
    agent = _agent(pxos_kernel, proxy.url, api_key_env="PXOS_TEST_KEY")
    assert agent.ready().ok
    proposal = agent.propose(Task("write add", files={"calc.py": CALC}))
    assert proposal.model == "test-engine/ngram-12" and proposal.text
    assert all(headers.get("Authorization") == f"Bearer {SECRET}" for _, _, headers in proxy.seen)
    net = [r["payload"] for r in pxos_kernel.ledger.records() if r["type"] == "NET"]
    assert [(p["method"], p["path"], p["status"]) for p in net] == [
        ("GET", "/v1/models", 200), ("POST", "/v1/chat/completions", 200)]
    for payload in net:
        assert payload["host"] == "127.0.0.1" and payload["duration"] >= 0 and payload["response_bytes"] > 0
    assert net[1]["request_bytes"] > 100
    ledger_text = (pxos_kernel.home / "ledger" / "ledger.jsonl").read_text()
    assert SECRET not in ledger_text and "Authorization" not in ledger_text
    proxy.shutdown()


def test_failing_backend_is_retried_with_backoff_then_succeeds(pxos_kernel, upstream):
    grant(pxos_kernel.home, ["127.0.0.1"])
    proxy = Proxy(upstream, fail=2)
    agent = _agent(pxos_kernel, proxy.url, model="test-engine/ngram-12", max_retries=2)
    start = time.perf_counter()
    assert agent.propose(Task("write add", files={"calc.py": CALC})).text
    assert time.perf_counter() - start > 0.5  # the client backed off between tries
    statuses = [r["payload"]["status"] for r in pxos_kernel.ledger.records() if r["type"] == "NET"]
    assert statuses == [503, 503, 200]
    proxy.shutdown()


def test_failing_backend_beyond_retries_is_an_agent_error(pxos_kernel, upstream):
    grant(pxos_kernel.home, ["127.0.0.1"])
    proxy = Proxy(upstream, fail=10)
    agent = _agent(pxos_kernel, proxy.url, model="test-engine/ngram-12", max_retries=1)
    with pytest.raises(AgentError, match="answered HTTP 503: .*overloaded"):
        agent.propose(Task("write add", files={"calc.py": CALC}))
    proxy.shutdown()


def test_slow_backend_times_out(pxos_kernel, upstream):
    grant(pxos_kernel.home, ["127.0.0.1"])
    proxy = Proxy(upstream, delay=2.0)
    agent = _agent(pxos_kernel, proxy.url, model="test-engine/ngram-12", timeout=0.3, max_retries=0)
    with pytest.raises(AgentError, match="timed out after 0.3 s"):
        agent.propose(Task("write add", files={"calc.py": CALC}))
    proxy.shutdown()


def test_unknown_model_and_missing_base_url(pxos_kernel, upstream):
    grant(pxos_kernel.home, ["127.0.0.1"])
    agent = _agent(pxos_kernel, upstream.url, model="gpt-9")
    listed = OpenAICompatibleAgent({"kernel": pxos_kernel, "base_url": upstream.url})
    assert listed.ready().ok  # no model configured: the server's first model is used
    assert "has no model 'gpt-9'" in agent.ready().reason
    assert "no base_url configured" in OpenAICompatibleAgent({"kernel": pxos_kernel}).ready().reason
    bad = OpenAICompatibleAgent({"kernel": pxos_kernel, "base_url": "ftp://x"})
    with pytest.raises(AgentError, match="not an http"):
        bad.propose(Task("x"))
