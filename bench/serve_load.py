"""serve under load: 50 and 200 concurrent clients (the official openai client), errors, latency, throughput.

The server runs in its own process (as ``pxos-kernel serve`` does) with its
default limits, serving the n-gram engine of pxos_agents trained on the
kernel's source (fast per token: the HTTP path dominates). Each client thread
has its own ``openai.OpenAI`` (default retries, so a 503 past a cap is retried
as users' clients do) and sends BENCH_REQUESTS completions of max_tokens
BENCH_TOKENS. Throughput is compared with the same requests run in-process, one
after another.

BENCH_ENGINE=pixellm serves pixellm's default model instead (native OpenMP
kernels: what concurrent request threads do to its thread teams shows here).

Targets: 0 errors at 50 and at 200 clients; p50 and p99 latency and the
throughput ratio against in-process are reported. Run: python bench/serve_load.py
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time

from _serve import bench_kernel
from _timing import median, percentile, report, verdict

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "5"))
TOKENS = int(os.environ.get("BENCH_TOKENS", "32"))
ENGINE = os.environ.get("BENCH_ENGINE", "ngram")
PROMPT = "def load_config(home: Path) -> dict:\n    "


def main() -> None:
    import openai

    from pxos_kernel import GenerationRequest

    from pxos_agents.serve.protocol import Limits
    from pxos_agents.serve.server import serve

    kernel, home = bench_kernel("pxos-bench-load-", ngram=ENGINE == "ngram")
    server = serve(kernel, "127.0.0.1", 0, Limits(), quiet=True)
    wanted = "bench-ngram" if ENGINE == "ngram" else ENGINE
    served = next((m for m in server.catalog.models.values() if m.engine_name == wanted), None)
    if served is None:
        server.server_close()
        kernel.close()
        shutil.rmtree(home, ignore_errors=True)
        raise SystemExit(f"serve_load: BENCH_ENGINE={ENGINE}: no such engine with a model "
                         f"(served: {', '.join(server.catalog.models) or 'none'})")
    child = multiprocessing.get_context("fork").Process(target=server.serve_forever, daemon=True)
    child.start()
    rows = []
    try:
        request = GenerationRequest(PROMPT, model=served.model, max_tokens=TOKENS, temperature=0.8, seed=1)
        start = time.perf_counter()
        count = 0
        for _ in range(50):
            count += sum(c.tokens for c in served.engine.generate(request))
        in_process = count / (time.perf_counter() - start)
        for clients in (50, 200):
            latencies: list[float] = []
            errors: list[str] = []
            tokens = [0]
            lock = threading.Lock()
            go = threading.Event()

            def one_client() -> None:
                client = openai.OpenAI(base_url=server.url, api_key="unused", timeout=120)
                go.wait()
                for _ in range(REQUESTS):
                    begin = time.perf_counter()
                    try:
                        reply = client.completions.create(model=served.id, prompt=PROMPT, max_tokens=TOKENS,
                                                          temperature=0.8, seed=1)
                    except Exception as exc:  # noqa: BLE001 (every failure is counted and shown)
                        with lock:
                            errors.append(f"{type(exc).__name__}: {exc}"[:120])
                        continue
                    with lock:
                        latencies.append(time.perf_counter() - begin)
                        tokens[0] += reply.usage.completion_tokens
                client.close()

            threads = [threading.Thread(target=one_client) for _ in range(clients)]
            for t in threads:
                t.start()
            start = time.perf_counter()
            go.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            rate = tokens[0] / elapsed
            rows += [
                (f"{clients} clients x {REQUESTS} requests, errors", f"{len(errors)} (target 0) {verdict(not errors)}"
                 + (f"  first: {errors[0]}" if errors else "")),
                (f"{clients} clients, latency", f"p50 {median(latencies) * 1000:.0f} ms, "
                 f"p99 {percentile(latencies, 99) * 1000:.0f} ms" if latencies else "no request succeeded"),
                (f"{clients} clients, throughput", f"{rate:,.0f} tokens/s = {rate / in_process:.2f}x in-process "
                 f"({in_process:,.0f} tokens/s, one request after another)"),
            ]
    finally:
        child.terminate()
        child.join()
        server.server_close()
        kernel.close()
        shutil.rmtree(home, ignore_errors=True)  # the benchmark's own PXOS_HOME
    report(f"serve under load, {served.id}, max_tokens={TOKENS}, machine has {os.cpu_count()} cores", rows)


if __name__ == "__main__":
    main()
