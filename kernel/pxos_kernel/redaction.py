"""Keeping credentials out of what pxOS prints and records."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
_SECRET_QUERY = re.compile(r"(?P<key>[?&](?:api[_-]?key|key|token|access[_-]?token|password|passwd|secret|sig)=)"
                           r"(?P<value>[^&#\s]+)", re.IGNORECASE)


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``.

    The user-info part (``https://user:secret@host``) and secret-looking query
    parameters (``?api_key=...``, ``token``, ``password`` ...) are hidden; the
    host, path and the rest stay readable::

        >>> redact_url("https://bob:hunter2@api.example.com/v1?api_key=abc&x=1")
        'https://***@api.example.com/v1?api_key=***&x=1'
    """
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", str(text))
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}***", text)
