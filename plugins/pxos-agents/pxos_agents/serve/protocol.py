"""The OpenAI request and response shapes: validation of what comes in, builders of what goes out.

Requests are checked field by field; anything wrong becomes an
:class:`ApiError` carrying the status code and the OpenAI-style error body
(``{"error": {"message", "type", "param", "code"}}``) the client expects.
"""

from __future__ import annotations

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
    """What one request may ask for."""

    max_body_bytes: int = 1 << 20
    max_tokens: int = 2048


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
    max_tokens = _number(body, tokens_key, min(default_tokens, limits.max_tokens), 0, limits.max_tokens, int)
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
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string", param=f"messages[{i}].content")
        out.append({"role": message["role"], "content": content})
    return out


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
