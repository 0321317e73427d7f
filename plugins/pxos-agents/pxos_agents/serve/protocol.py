"""The OpenAI request and response shapes: validation of what comes in, builders of what goes out.

Requests are checked field by field; anything wrong becomes an
:class:`ApiError` carrying the status code and the OpenAI-style error body
(``{"error": {"message", "type", "param", "code"}}``) the client expects.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from pxos_kernel import GenerationRequest


class ApiError(Exception):
    """An error answered to the client as an OpenAI error body."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: Optional[str] = None, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and what the server holds for all of them at once.

    Past ``max_connections`` open connections, or when an engine already runs
    ``max_inflight`` generations and no slot frees within ``queue_wait``
    seconds, the answer is 503 with ``Retry-After`` (the official client retries
    it). A client gets ``header_timeout`` seconds to send its request line and
    headers, ``body_timeout`` for its body, and ``idle_timeout`` between
    requests on a kept-alive connection.
    """

    max_body_bytes: int = 1 << 20
    max_tokens: int = 2048
    max_json_depth: int = 32
    max_connections: int = 256
    max_inflight: int = 16
    queue_wait: float = 30.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    backlog: int = 1024


def _number(body: dict, key: str, default: Any, low: float, high: float, kind: type = float) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ApiError(400, f"'{key}' must be a {'integer' if kind is int else 'number'}, not {value!r}", param=key)
    if not low <= value <= high:
        raise ApiError(400, f"'{key}' must be between {low:g} and {high:g}, not {value}", param=key,
                       code="integer_above_max_value" if value > high else None)
    return kind(value)


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) and s for s in stop):
        return tuple(stop)
    raise ApiError(400, "'stop' must be a string or a list of at most 4 non-empty strings", param="stop")


def generation_request(body: dict, prompt: str, model: str, limits: Limits, default_tokens: int) -> GenerationRequest:
    """The engine request for a validated OpenAI body."""
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n=1 is supported", param="n")
    tokens_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    max_tokens = _number(body, tokens_key, min(default_tokens, limits.max_tokens), 1, limits.max_tokens, int)
    for key in ("presence_penalty", "frequency_penalty"):  # accepted for compatibility; engines ignore them
        _number(body, key, 0.0, -2.0, 2.0)
    for key in ("logprobs", "echo"):
        if body.get(key) not in (None, False):
            raise ApiError(400, f"'{key}' is not supported", param=key)
    if "user" in body and not isinstance(body["user"], str):
        raise ApiError(400, "'user' must be a string", param="user")
    top_p = body.get("top_p")
    return GenerationRequest(
        prompt=prompt, model=model, max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=None if top_p is None else _number(body, "top_p", 1.0, 0.0, 1.0),
        seed=_number(body, "seed", None, -(2 ** 63), 2 ** 63 - 1, int), stop=_stop(body))


def completion_prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be a string (or a list of exactly one string)", param="prompt")
    if not prompt:
        raise ApiError(400, "'prompt' must not be empty", param="prompt")
    return prompt


def chat_messages(body: dict) -> list[dict]:
    """The validated messages of a chat request, each ``{"role", "content"}`` with the content as text."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "developer"):
            raise ApiError(400, f"messages[{i}] must be an object with role system, user or assistant",
                           param=f"messages[{i}]")
        content = message.get("content")
        if isinstance(content, list):  # content parts: text parts only
            content = "".join(_text_part(part, f"messages[{i}].content[{j}]") for j, part in enumerate(content))
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts",
                           param=f"messages[{i}].content")
        out.append({"role": message["role"], "content": content})
    if not any(m["content"] for m in out):
        raise ApiError(400, "'messages' hold no text", param="messages")
    return out


def _text_part(part: Any, where: str) -> str:
    if not isinstance(part, dict) or part.get("type") != "text":
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        raise ApiError(400, f"{where} is of type {kind!r}: only text parts are supported", param=where)
    text = part.get("text")
    if not isinstance(text, str):
        raise ApiError(400, f"{where}.text must be a string, not {type(text).__name__}", param=f"{where}.text")
    return text


def check_depth(raw: bytes, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` before parsing it (the parser would recurse)."""
    depth = 0
    for token in _STRUCTURE.finditer(raw):
        mark = token.group()
        if mark in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise ApiError(400, f"the JSON body is nested deeper than {limit} levels")
        elif mark in (b"]", b"}"):
            depth -= 1


_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def chat_prompt(messages: list[dict]) -> str:
    """Chat messages as one completion prompt, for engines that have no chat templates of their own."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def completion_body(rid: str, model: str, text: str, finish: Optional[str], tokens: int) -> dict:
    return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "usage": {"completion_tokens": tokens}}


def chat_body(rid: str, model: str, text: str, finish: Optional[str], tokens: int) -> dict:
    return {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": {"completion_tokens": tokens}}


def completion_chunk(rid: str, model: str, text: str, finish: Optional[str]) -> dict:
    return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}


def chat_chunk(rid: str, model: str, text: Optional[str], finish: Optional[str], first: bool = False) -> dict:
    delta: dict = {"role": "assistant"} if first else {}
    if text is not None:
        delta["content"] = text
    return {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
