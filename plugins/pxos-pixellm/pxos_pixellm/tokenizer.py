"""Tokenizers stored inside model containers (public API).

A model container's metadata has a ``tokenizer`` section; its ``kind`` says
which tokenizer the model uses:

``bytes``
    token id = byte value (the shipped model). Prompts must be UTF-8.
``hf``
    a Hugging Face ``tokenizer.json``, stored in the container's payload
    (``offset``/``length``/``sha256`` locate it) and read with the
    ``tokenizers`` library itself, with the special tokens and the chat
    template of the model's ``tokenizer_config.json`` beside it. GGUF
    vocabularies (llama/SentencePiece and gpt2/BPE) are converted to this
    form when a GGUF file is imported.
``none``
    no tokenizer: the model's logits can be computed but it cannot read or
    write text.

Use :func:`tokenizer_from_section` (or ``ModelFile.tokenizer()``) to get one;
every tokenizer has ``encode``, ``decode``, ``stream`` (an incremental
decoder for streaming output), ``eos_token_ids`` and ``chat_template``.
"""

from __future__ import annotations

import codecs
import hashlib
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional, Protocol, Sequence

from pxos_kernel import FormatError, InferenceError


class TokenStream(Protocol):
    """Turns token ids into text as they are generated, holding back incomplete characters."""

    def push(self, token: int) -> str:
        """The text that ``token`` completes (often empty for byte pieces of one character)."""

    def flush(self) -> str:
        """Whatever is still held back, with incomplete characters replaced by U+FFFD."""


class Tokenizer(Protocol):
    kind: str
    vocab_size: int
    bos_token_id: Optional[int]
    eos_token_ids: tuple[int, ...]
    chat_template: Optional[str]

    def encode(self, text: "str | bytes", *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; InferenceError (one line, naming the spot) for text it cannot encode."""

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``."""

    def stream(self) -> TokenStream:
        """A fresh incremental decoder."""

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True) -> str:
        """The prompt text for a conversation; InferenceError when the model has no chat template."""


# -- bytes ----------------------------------------------------------------------------------


class _Utf8Stream:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token: int) -> str:
        return self._decoder.decode(bytes([token]))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class ByteTokenizer:
    """Token id = byte value: the tokenizer of the shipped model."""

    kind = "bytes"
    vocab_size = 256
    bos_token_id: Optional[int] = None
    eos_token_ids: tuple[int, ...] = ()
    chat_template: Optional[str] = None

    def encode(self, text: "str | bytes", *, add_special_tokens: bool = True) -> list[int]:
        if isinstance(text, bytes):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InferenceError(f"prompt is not valid UTF-8 (byte {exc.start}: "
                                     f"{text[exc.start:exc.start + 1]!r})") from None
            return list(text)
        try:
            return list(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InferenceError(f"prompt is not valid UTF-8 (character {exc.start} is an unpaired "
                                 "surrogate)") from None

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

    def stream(self) -> TokenStream:
        return _Utf8Stream()

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True) -> str:
        raise InferenceError(no_chat_template())

    def describe(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "chat_template": False}


def no_chat_template(model: str = "this model") -> str:
    return (f"{model} has no chat template (it is a completion model): give it a prompt to continue "
            "(model generate, /v1/completions), or convert a model whose tokenizer_config.json has one")


# -- Hugging Face tokenizer.json ---------------------------------------------------------------


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` read from stored ``tokenizer.json`` bytes, with its special tokens."""

    kind = "hf"

    def __init__(self, tokenizer_json: bytes, section: Mapping[str, Any], where: str = "tokenizer") -> None:
        try:
            from tokenizers import Tokenizer as _Tokenizer
        except ImportError:
            raise FormatError("this model's tokenizer needs the 'tokenizers' package: "
                              "pip install tokenizers") from None
        try:
            self._tok = _Tokenizer.from_str(tokenizer_json.decode("utf-8"))
        except Exception as exc:  # tokenizers raises its own Exception type for bad JSON
            raise FormatError(f"{where}: not a readable tokenizer.json ({_first_line(exc)})") from None
        self.where = where
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.bos_token = section.get("bos_token")
        self.eos_token = section.get("eos_token")
        self.bos_token_id = section.get("bos_token_id")
        self.eos_token_ids = tuple(int(i) for i in section.get("eos_token_ids") or ())
        self.chat_template = section.get("chat_template") or None
        self.unk_token_id = self._unk_id()
        self._every_text_encodes = self._byte_complete()

    @property
    def library(self) -> Any:
        """The ``tokenizers.Tokenizer`` itself (documented: the benchmark and the GPU engine use it)."""
        return self._tok

    def _unk_id(self) -> Optional[int]:
        model = self._tok.model
        unk = getattr(model, "unk_token", None)
        if isinstance(unk, str):
            return self._tok.token_to_id(unk)
        unk_id = getattr(model, "unk_id", None)  # Unigram
        return unk_id if isinstance(unk_id, int) else None

    def _byte_complete(self) -> bool:
        """Whether every text has tokens: a byte-level vocabulary, or BPE with byte fallback."""
        import json

        spec = json.loads(self._tok.to_str())
        if (spec.get("model") or {}).get("byte_fallback"):
            return True
        return "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) and (spec.get("model") or {}).get("type") == "BPE"

    def encode(self, text: "str | bytes", *, add_special_tokens: bool = True) -> list[int]:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InferenceError(f"prompt is not valid UTF-8 (byte {exc.start}: "
                                     f"{text[exc.start:exc.start + 1]!r})") from None
        try:
            encoding = self._tok.encode(text, add_special_tokens=add_special_tokens)
        except Exception as exc:
            raise InferenceError(f"the tokenizer cannot encode the prompt ({_first_line(exc)})") from None
        ids = encoding.ids
        if not self._every_text_encodes or (self.unk_token_id is not None and self.unk_token_id in ids):
            self._check_covered(text, encoding)
        return ids

    def _check_covered(self, text: str, encoding: Any) -> None:
        """Refuse text the vocabulary cannot represent (unknown tokens, or characters dropped silently)."""
        if self.unk_token_id is not None:
            for token_id, (start, end) in zip(encoding.ids, encoding.offsets):
                if token_id == self.unk_token_id and end > start:
                    raise InferenceError(_unencodable(text, start))
        covered = bytearray(len(text) + 1)
        for start, end in encoding.offsets:
            covered[start:end] = b"\x01" * (end - start)
        for index, char in enumerate(text):
            if not covered[index] and not char.isspace():
                raise InferenceError(_unencodable(text, index))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(ids if isinstance(ids, list) else [int(i) for i in ids], skip_special_tokens=True)

    def stream(self) -> TokenStream:
        return _HFStream(self)

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True) -> str:
        if not self.chat_template:
            raise InferenceError(no_chat_template())
        return render_chat_template(self.chat_template, messages, add_generation_prompt=add_generation_prompt,
                                    bos_token=self.bos_token, eos_token=self.eos_token)

    def describe(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "model": type(self._tok.model).__name__,
                "bos_token": self.bos_token, "eos_token": self.eos_token,
                "eos_token_ids": list(self.eos_token_ids), "chat_template": bool(self.chat_template)}


class _HFStream:
    """Incremental decoding: decode the ids since the last complete character, emit what is new.

    A token can end in the middle of a character (byte-fallback and byte-level
    vocabularies split characters into bytes); such text ends in U+FFFD and is
    held back until the character completes.
    """

    def __init__(self, tokenizer: HFTokenizer) -> None:
        self._tok = tokenizer._tok
        self._ids: list[int] = []
        self._prefix = 0  # ids before this index are already emitted, except for the context below
        self._read = 0    # ids[prefix:read] are decoded as context so word boundaries come out right

    def push(self, token: int) -> str:
        self._ids.append(int(token))
        before = self._tok.decode(self._ids[self._prefix:self._read], skip_special_tokens=True)
        after = self._tok.decode(self._ids[self._prefix:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        before = self._tok.decode(self._ids[self._prefix:self._read], skip_special_tokens=True)
        after = self._tok.decode(self._ids[self._prefix:], skip_special_tokens=True)
        self._prefix = self._read = len(self._ids)
        return after[len(before):]


def _unencodable(text: str, index: int) -> str:
    return (f"the prompt cannot be encoded by this model's tokenizer: character {text[index]!r} at position "
            f"{index} has no token (and the vocabulary has no byte fallback)")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def render_chat_template(template: str, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool,
                         bos_token: Optional[str] = None, eos_token: Optional[str] = None) -> str:
    """Render a Hugging Face chat template (Jinja) the way ``transformers``' ``apply_chat_template`` does.

    The same sandboxed environment and options: ``trim_blocks``,
    ``lstrip_blocks``, the ``loopcontrols`` extension, ``raise_exception``,
    ``strftime_now`` and a ``tojson`` that keeps non-ASCII text.
    """
    try:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        raise InferenceError("chat templates need the 'jinja2' package: pip install jinja2") from None
    import json

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        compiled = env.from_string(template)
        return compiled.render(messages=list(messages), add_generation_prompt=add_generation_prompt,
                               bos_token=bos_token or "", eos_token=eos_token or "")
    except jinja2.exceptions.TemplateError as exc:
        raise InferenceError(f"the model's chat template refused the conversation: {_first_line(exc)}") from None


# -- the container section ------------------------------------------------------------------------


def tokenizer_section(kind: str, *, blob: Optional[bytes] = None, **fields: Any) -> dict:
    """The ``tokenizer`` metadata section for a new container (``offset`` is filled in by the writer)."""
    section: dict[str, Any] = {"kind": kind}
    if blob is not None:
        section.update(format="tokenizer.json", length=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    section.update({k: v for k, v in fields.items() if v is not None})
    return section


def tokenizer_from_section(section: Mapping[str, Any], blob: Optional[bytes], where: str) -> "Tokenizer | None":
    """The tokenizer a container's section describes (``None`` for kind ``none``)."""
    kind = section.get("kind")
    if kind == "bytes":
        return ByteTokenizer()
    if kind == "none":
        return None
    if kind == "hf":
        if blob is None:
            raise FormatError(f"{where}: its tokenizer section has no stored tokenizer.json")
        if hashlib.sha256(blob).hexdigest() != section.get("sha256"):
            raise FormatError(f"{where}: the stored tokenizer.json does not match its recorded sha256")
        return HFTokenizer(blob, section, where=f"{where} (stored tokenizer.json)")
    raise FormatError(f"{where}: unknown tokenizer kind {kind!r} (expected bytes, hf or none)")


def check_tokenizer_fits(tokenizer: "Tokenizer | None", vocab_size: int, where: str) -> None:
    """A tokenizer may use fewer ids than the model's vocabulary (padded embeddings), never more."""
    if tokenizer is None:
        return
    if tokenizer.vocab_size > vocab_size:
        raise FormatError(f"{where}: the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                          f"{vocab_size}: they do not belong together")
    bad = [i for i in tokenizer.eos_token_ids if not 0 <= i < vocab_size]
    if bad:
        raise FormatError(f"{where}: end-of-sequence token id {bad[0]} is outside the vocabulary of {vocab_size}")


def eos_ids_from(values: Iterable[Any]) -> list[int]:
    """``eos_token_id`` of a config (an int, a list of ints or None) as a list."""
    out: list[int] = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out += [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return sorted(set(out))
