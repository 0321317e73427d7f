"""serve's standard-library server against uvicorn, on the same engine and the same requests.

Issue 16 asks for a well-kept server where that is measurably better than
``http.server``. This puts the n-gram engine (fast per token: the server's own
cost shows most) behind ``pxos-kernel serve``'s server and behind a minimal ASGI
app under uvicorn (its pure-Python h11 parser, and httptools when installed),
each in its own process. The ASGI app does the least a completion route must:
read the body, bound its nesting, validate it with serve's own protocol
helpers, generate in a worker thread (a generation blocks, and must not stop
the event loop) and answer JSON; it has none of serve's limits, so it errs in
uvicorn's favour. Each server gets the same non-streaming completions (of one
token, where the server's own cost is nearly all, and of ``--tokens``) through a
kept-alive ``http.client`` connection, and through the official client, rounds
interleaved. Reported per request: wall time, and the server process's CPU time
(from /proc: wall time on a busy machine follows the scheduler more than the
server, CPU time does not). Target: serve's server costs no more CPU than
uvicorn's cheapest (else uvicorn would be the better server).

Needs uvicorn (``pip install uvicorn``), which pxOS does not depend on.
Run: python bench/serve_uvicorn.py [--tokens N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

from _serve import bench_kernel
from _timing import median, verdict


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=256, help="max_tokens per request (default 256)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40, help="requests per round and candidate")
    args = parser.parse_args()
    try:
        import uvicorn
    except ImportError:
        raise SystemExit("serve_uvicorn: uvicorn is not installed (pip install uvicorn)") from None
    import openai


    from pxos_agents.serve import protocol as p
    from pxos_agents.serve.server import serve

    kernel, home = bench_kernel("pxos-bench-uvicorn-")
    limits = p.Limits(max_tokens=max(args.tokens, 2048))
    stdlib = serve(kernel, "127.0.0.1", 0, limits, quiet=True)
    served = stdlib.catalog.models["bench-ngram/ngram-8"]

    def complete(body: dict) -> dict:
        request = p.generation_request(body, p.completion_prompt(body), served.model, limits, 16)
        texts, tokens, finish = [], 0, None
        for chunk in served.engine.generate(request):
            texts.append(chunk.text)
            tokens += chunk.tokens
            finish = chunk.finish_reason
        return p.completion_body(p.new_id("cmpl"), served.id, "".join(texts), finish, tokens)

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        p.check_depth(raw, limits.max_json_depth)
        data = json.dumps(await asyncio.to_thread(complete, json.loads(raw))).encode("utf-8")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]})
        await send({"type": "http.response.body", "body": data})

    fork = multiprocessing.get_context("fork")
    servers: dict[str, tuple[Any, tuple[str, int]]] = {}
    child = fork.Process(target=stdlib.serve_forever, daemon=True)
    child.start()
    servers["http.server (serve)"] = (child, stdlib.server_address[:2])
    kinds = ["h11"]
    try:
        import httptools  # noqa: F401 (only whether it is there)
        kinds.append("httptools")
    except ImportError:
        pass
    for kind in kinds:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, http=kind, loop="asyncio", log_level="error",
                                access_log=False, lifespan="off", timeout_keep_alive=600)
        child = fork.Process(target=uvicorn.Server(config).run, daemon=True)
        child.start()
        servers[f"uvicorn, {kind}"] = (child, ("127.0.0.1", port))
    deadline = time.monotonic() + 30
    for _, address in servers.values():
        while True:
            try:
                socket.create_connection(address, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"serve_uvicorn: no server listening on {address} after 30 s") from None
                time.sleep(0.1)

    prompt = "def load_config(home: Path) -> dict:\n    "
    candidates: dict[tuple[str, str], tuple[int, Callable[[], None]]] = {}
    for name, (child, (host, port)) in servers.items():
        connection = http.client.HTTPConnection(host, port, timeout=600)
        client = openai.OpenAI(base_url=f"http://{host}:{port}/v1", api_key="unused", max_retries=0, timeout=600)

        def plain(tokens: int, connection: http.client.HTTPConnection = connection) -> Callable[[], None]:
            body = json.dumps({"model": served.id, "prompt": prompt, "max_tokens": tokens, "temperature": 0.8,
                               "seed": 1}).encode("utf-8")

            def run() -> None:
                connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                assert json.loads(connection.getresponse().read())["usage"]["completion_tokens"] == tokens
            return run

        def official(client: openai.OpenAI = client) -> None:
            reply = client.completions.create(model=served.id, prompt=prompt, max_tokens=args.tokens,
                                              temperature=0.8, seed=1)
            assert reply.usage is not None and reply.usage.completion_tokens == args.tokens

        candidates[(name, "1 token, http.client")] = (child.pid, plain(1))
        candidates[(name, f"{args.tokens} tokens, http.client")] = (child.pid, plain(args.tokens))
        candidates[(name, f"{args.tokens} tokens, official client")] = (child.pid, official)
    wall: dict[tuple[str, str], list[float]] = {key: [] for key in candidates}
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in candidates}
    try:
        for _, run in candidates.values():
            run()
        for _ in range(args.rounds):
            for key, (pid, run) in candidates.items():
                cpu_start, start = _server_cpu(pid), time.perf_counter()
                for _ in range(args.requests):
                    run()
                wall[key].append((time.perf_counter() - start) / args.requests)
                cpu[key].append((_server_cpu(pid) - cpu_start) / args.requests)
    finally:
        for child, _ in servers.values():
            child.terminate()
            child.join()
        stdlib.server_close()
        kernel.close()
        shutil.rmtree(home, ignore_errors=True)  # the benchmark's own PXOS_HOME

    print(f"serve's http.server against uvicorn: n-gram engine, max_tokens={args.tokens}, "
          f"median of {args.rounds} rounds of {args.requests} requests, per request")
    for workload in dict.fromkeys(workload for _, workload in candidates):
        print(f"  {workload}:")
        for name in servers:
            key = (name, workload)
            print(f"    {name:20s}  wall {median(wall[key]) * 1e3:6.2f} ms   server CPU {median(cpu[key]) * 1e3:5.2f} ms")
        ours = median(cpu[("http.server (serve)", workload)])
        best = min(median(cpu[(name, workload)]) for name in servers if name.startswith("uvicorn"))
        ratio = ours / best if best else float("inf")
        print(f"    serve's server CPU is {ratio:.2f}x uvicorn's cheapest (target <= 1.00x) {verdict(ratio <= 1.0)}")


if __name__ == "__main__":
    main()
