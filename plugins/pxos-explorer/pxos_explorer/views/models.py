"""The models view: engines and their models, the tensor directory, a picture per tensor, generation.

Generation goes through ``kernel.engine(name).generate(GenerationRequest(...))``
and streams each chunk to the browser as a server-sent event. The tensor
directory and pictures come from pxos-pixellm's public API (model containers
and weight pictures); an engine whose models are not pixel model containers
shows its model names only. Before a model is loaded, the memory its tensors
need (decoded to float32) is compared with the memory this machine has
available, and a model that does not fit is refused with both figures.
"""

from __future__ import annotations

import io
import math
import os
import threading
import time
from typing import Any, Iterator, Optional

from pxos_kernel import GenerationRequest, NotFoundError, PxosError

from pxos_explorer.http import HttpError, Request, Route, json_response, png_response, sse_event, sse_stream

MAX_PROMPT = 16 << 10
MAX_TOKENS = 1024
MEMORY_HEADROOM = 0.8  # load a model only into this share of the memory available
PICTURE_WIDTH = 1024


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


class ModelsView:
    """``/models`` and ``/api/models/...``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.kernel = app.kernel
        self._busy: dict[str, threading.Lock] = {}
        self._loaded: dict[str, Any] = {}
        self._load_lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/models", page=True),
            Route("GET", "/models/{engine}/{model}", page=True),
            Route("GET", "/api/models", self.engines),
            Route("GET", "/api/models/{engine}/{model}", self.model),
            Route("GET", "/api/models/{engine}/{model}/tensors/{tensor}", self.tensor_picture),
            Route("POST", "/api/models/generate", self.generate),
        ]

    def _engine(self, name: str) -> Any:
        registry = self.kernel.registry("inference")
        if name not in registry.names():
            raise NotFoundError(f"no inference engine {name!r} (registered: {', '.join(registry.names()) or 'none'})")
        return self.app.backend("inference", name)

    # -- listings ---------------------------------------------------------------------------------

    def engines(self, request: Request) -> Any:
        registry = self.kernel.registry("inference")
        try:
            default: Optional[str] = self.kernel.default_name("inference")
        except PxosError:
            default = None
        out = []
        for name in registry.names():
            entry = {"name": name, "plugin": registry.owner(name), "summary": registry.get(name).summary,
                     "default": name == default}
            try:
                entry["models"] = list(self._engine(name).models())
            except PxosError as exc:
                entry["error"] = str(exc)
            out.append(entry)
        return json_response({"engines": out, "available_memory": available_memory()})

    def _container(self, engine_name: str, model: str) -> tuple[Any, str]:
        """The model container behind ``model`` and its metadata (pixellm's model containers)."""
        engine = self._engine(engine_name)
        resolve = getattr(engine, "resolve", None)
        if resolve is None:
            raise HttpError(404, f"engine {engine_name!r} does not say where its models' tensors are")
        try:
            from pxos_pixellm import read_model_meta
        except ImportError:
            raise HttpError(404, "pxos-pixellm is not installed: tensor directories cannot be read") from None
        path = str(resolve(model))
        return read_model_meta(path), path

    def model(self, request: Request) -> Any:
        """The tensor directory, the architecture, and the memory the model needs against what there is."""
        meta, path = self._container(request.params["engine"], request.params["model"])
        tensors = meta.get("tensors") or []
        need = _memory_needed(tensors)
        return json_response({
            "engine": request.params["engine"], "model": request.params["model"], "path": path,
            "size": os.path.getsize(path), "config": meta.get("config"), "info": meta.get("info"),
            "tensors": [{k: t.get(k) for k in ("name", "shape", "dtype", "encoding", "offset", "length")}
                        | {"parameters": math.prod(t.get("shape") or [0])} for t in tensors],
            "parameters": sum(math.prod(t.get("shape") or [0]) for t in tensors),
            "memory_needed": need, "memory_available": available_memory(),
        })

    def _check_memory(self, model: str, tensors: list) -> None:
        need, have = _memory_needed(tensors), available_memory()
        if need > have * MEMORY_HEADROOM:
            raise HttpError(507, f"model {model!r} is too big for this machine's memory: its tensors need "
                            f"{gib(need)} as float32, and {gib(have)} is available; it was not loaded")

    def tensor_picture(self, request: Request) -> Any:
        """One tensor drawn as pixels: red positive, blue negative, white zero (pxos-pixellm's picture)."""
        engine_name, model, name = request.params["engine"], request.params["model"], request.params["tensor"]
        meta, path = self._container(engine_name, model)
        if not any(t.get("name") == name for t in meta.get("tensors") or []):
            raise NotFoundError(f"model {model!r} has no tensor {name!r}")
        loaded = self._load(model, path, meta)
        from pxos_pixellm import tensor_rows

        values = loaded.array(name)
        columns = values.reshape(values.shape[0], -1).shape[1] if values.ndim >= 2 else values.shape[0]
        block = tensor_rows(values, min(PICTURE_WIDTH, columns))
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(block, "RGB").save(out, format="PNG", compress_level=1)
        return png_response(out.getvalue(), cache=True)

    def _load(self, model: str, path: str, meta: dict) -> Any:
        with self._load_lock:
            loaded = self._loaded.get(path)
            if loaded is None:
                self._check_memory(model, meta.get("tensors") or [])
                from pxos_pixellm import open_model

                try:
                    loaded = open_model(path)  # the payload, each tensor decoded when it is drawn
                except MemoryError:
                    raise HttpError(507, f"model {model!r} ran out of memory while loading") from None
                self._loaded = {path: loaded}  # one model's tensors at a time
            return loaded

    # -- generation --------------------------------------------------------------------------------

    def generate(self, request: Request) -> Any:
        """``{"engine", "model", "prompt", "max_tokens", "temperature", "top_k", "top_p", "seed"}`` streamed
        back as ``chunk`` events and one ``done`` event (or an ``error`` event)."""
        body = request.json()
        engine_name = body.get("engine") or self.kernel.default_name("inference")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise HttpError(400, "generate needs a prompt (a non-empty string)")
        if len(prompt.encode("utf-8")) > MAX_PROMPT:
            raise HttpError(413, f"the prompt is over {MAX_PROMPT} bytes")
        generation = GenerationRequest(
            prompt=prompt, model=_optional(body, "model", str), max_tokens=_number(body, "max_tokens", 128, 1, MAX_TOKENS),
            temperature=float(_number(body, "temperature", 0.8, 0.0, 5.0, float)),
            top_k=_optional_number(body, "top_k", 1, 100000), top_p=_optional_float(body, "top_p"),
            seed=_optional_number(body, "seed", 0, 2**32 - 1))
        engine = self._engine(engine_name)
        model = generation.model or getattr(engine, "default_model", None)
        if model and getattr(engine, "resolve", None) is not None:  # a pixel model container: check its size first
            meta, _ = self._container(engine_name, model)
            self._check_memory(model, meta.get("tensors") or [])
        busy = self._busy.setdefault(engine_name, threading.Lock())
        if not busy.acquire(timeout=0.5):
            raise HttpError(503, f"engine {engine_name!r} is generating for another request; try again in a moment")
        try:
            chunks = iter(engine.generate(generation))
            started = time.monotonic()
            try:
                first = next(chunks)
            except StopIteration:
                first = None
            except MemoryError:
                raise HttpError(507, f"engine {engine_name!r} ran out of memory loading the model") from None
        except BaseException:
            busy.release()
            raise
        return sse_stream(self._stream(busy, first, chunks, started))

    def _stream(self, busy: threading.Lock, first: Any, chunks: Iterator[Any], started: float) -> Iterator[bytes]:
        tokens, finish = 0, None
        try:
            pending = [first] if first is not None else []
            while True:
                for chunk in pending:
                    tokens += chunk.tokens
                    finish = chunk.finish_reason or finish
                    yield sse_event("chunk", {"text": chunk.text, "tokens": chunk.tokens})
                try:
                    pending = [next(chunks)]
                except StopIteration:
                    break
            seconds = time.monotonic() - started
            yield sse_event("done", {"tokens": tokens, "finish_reason": finish, "seconds": round(seconds, 3),
                                     "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None})
        except (PxosError, MemoryError, ValueError) as exc:
            yield sse_event("error", {"error": str(exc) or type(exc).__name__, "type": type(exc).__name__})
        finally:
            busy.release()


def _memory_needed(tensors: list) -> int:
    return sum(4 * math.prod(t.get("shape") or [0]) for t in tensors if isinstance(t, dict))


def _number(body: dict, name: str, default: Any, low: float, high: float, kind: type = int) -> Any:
    value = body.get(name, default)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise HttpError(400, f"{name} must be from {low} to {high}, not {number}")
    return number


def _optional_number(body: dict, name: str, low: int, high: int) -> Optional[int]:
    return None if body.get(name) in (None, "") else _number(body, name, None, low, high)


def _optional_float(body: dict, name: str) -> Optional[float]:
    return None if body.get(name) in (None, "") else _number(body, name, None, 0.0, 1.0, float)


def _optional(body: dict, name: str, kind: type) -> Any:
    value = body.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, kind):
        raise HttpError(400, f"{name} must be a {kind.__name__}")
    return value

