"""pxos-kernel serve: completion tokens per second through HTTP against calling the engine in-process.

The same requests (same prompt, max_tokens, seed) go to the engine directly
and through ``serve`` on 127.0.0.1 (in its own process, as ``pxos-kernel
serve`` runs) with the official ``openai`` client, both
non-streaming and streaming (SSE), interleaved, medians reported. Engines:
every installed inference engine that has a model (pixellm when installed),
plus the n-gram engine of pxos_agents trained on the kernel's source (fast
per token, so it shows the HTTP overhead at its worst).

Beside the official client's rows, for diagnosis only: the same non-streaming
request through the standard library's ``http.client`` (a kept-alive
connection, no client library), and the client's own CPU time per request
(the server runs in another process, so this process's CPU time during a
request is the client's). Together they split the overhead into what the
server adds and what the official client adds.

Run: python bench/agents_serve.py [--tokens N] [--rounds R]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import shutil
import time
from typing import Callable

from _serve import bench_kernel
from _timing import interleaved, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=256, help="max_tokens per request (default 256)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import openai

    from pxos_kernel.interfaces import GenerationRequest

    from pxos_agents.serve.protocol import Limits
    from pxos_agents.serve.server import serve

    kernel, home = bench_kernel("pxos-bench-serve-")
    server = serve(kernel, "127.0.0.1", 0, Limits(max_tokens=max(args.tokens, 2048)), quiet=True)
    child = multiprocessing.get_context("fork").Process(target=server.serve_forever, daemon=True)
    child.start()  # the server gets its own process (and GIL), the benchmark keeps the in-process engines
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=600)
    plain = http.client.HTTPConnection(*server.server_address[:2], timeout=600)
    prompt = "def load_config(home: Path) -> dict:\n    "
    print(f"completion tokens/s, max_tokens={args.tokens}, median of {args.rounds} (prompt {len(prompt)} chars)")
    try:
        for served in server.catalog.models.values():
            if served.engine_name == "pixellm-gpu":
                # The server below is a forked child, and a wgpu device made before fork does not work in
                # the child (the request hangs). bench/pixellm_gpu.py measures that engine on its own.
                print(f"{served.id}: not measured here (a forked server cannot use the parent's GPU device)")
                continue
            request = GenerationRequest(prompt, model=served.model, max_tokens=args.tokens, temperature=0.8, seed=1)
            counts: dict[str, int] = {}

            def in_process() -> None:
                counts["in-process"] = sum(c.tokens for c in served.engine.generate(request))

            def http_whole() -> None:
                reply = client.completions.create(model=served.id, prompt=prompt, max_tokens=args.tokens,
                                                  temperature=0.8, seed=1)
                counts["http"] = reply.usage.completion_tokens

            def http_stream() -> None:
                chunks = client.completions.create(model=served.id, prompt=prompt, max_tokens=args.tokens,
                                                   temperature=0.8, seed=1, stream=True)
                counts["http-stream"] = sum(1 for c in chunks if c.choices[0].text)  # chunks, not tokens

            def http_plain() -> None:
                body = json.dumps({"model": served.id, "prompt": prompt, "max_tokens": args.tokens,
                                   "temperature": 0.8, "seed": 1})
                plain.request("POST", "/v1/completions", body.encode(), {"Content-Type": "application/json"})
                counts["http.client"] = json.loads(plain.getresponse().read())["usage"]["completion_tokens"]

            cpu: dict[str, list[float]] = {}

            def client_cpu(name: str, run: Callable[[], None]) -> Callable[[], None]:
                def timed() -> None:
                    start = time.process_time()
                    run()
                    cpu.setdefault(name, []).append(time.process_time() - start)
                return timed

            samples = interleaved({"in-process": in_process, "http": client_cpu("http", http_whole),
                                   "http-stream": http_stream, "http.client": client_cpu("http.client", http_plain)},
                                  args.rounds, warmup=1)
            tokens = counts["in-process"]
            assert counts["http"] == counts["http.client"] == tokens, (
                counts, "HTTP and in-process runs made different token counts")
            rate = {name: tokens / median(times) for name, times in samples.items()}
            print(f"{served.id}: {tokens} tokens per request")
            print(f"  in-process      : {rate['in-process']:10.0f} tokens/s")
            for name, label in (("http", "HTTP          "), ("http-stream", "HTTP, streamed")):
                ratio = rate[name] / rate["in-process"]
                print(f"  {label}  : {rate[name]:10.0f} tokens/s   ratio {ratio:.2f}x  (target >= 0.7x) "
                      f"{'ok' if ratio >= 0.7 else 'MISSED'}")
            ratio = rate["http.client"] / rate["in-process"]
            print(f"  diagnosis: HTTP, http.client : {rate['http.client']:10.0f} tokens/s   ratio {ratio:.2f}x  "
                  "(the same request without a client library)")
            whole = median(samples["http"])
            print(f"  diagnosis: client CPU per request: official client {median(cpu['http']) * 1e3:.2f} ms "
                  f"({median(cpu['http']) / whole:.0%} of its request's {whole * 1e3:.2f} ms), "
                  f"http.client {median(cpu['http.client']) * 1e3:.2f} ms; "
                  f"the engine in-process {median(samples['in-process']) * 1e3:.2f} ms")
    finally:
        plain.close()
        child.terminate()
        child.join()
        server.server_close()
        kernel.close()
        shutil.rmtree(home, ignore_errors=True)  # the benchmark's own PXOS_HOME


if __name__ == "__main__":
    main()
