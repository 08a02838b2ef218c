"""Secrets never echoed: known secret values (the LLM key, bootstrap API keys) and the credentials of URLs
(`scheme://user:password@host`) are replaced in log records, `/health` and error bodies.

Kept free of other gateway imports: `api.errors` uses it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Bounded userinfo: linear time on any text (no nested or unbounded repetition before the '@').
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,31}://)[^\s/@]{1,256}@")
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember values that must never appear in logs or answers (short values are ignored: too common)."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 8)


def redact(text: str) -> str:
    """The text with registered secrets and URL credentials masked."""
    if not text:
        return text
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + "@", text)


def redact_url(url: str) -> str:
    return redact(url)


def install_log_redaction() -> None:
    """Mask secrets in every log record from now on (once per process), whichever handler writes it."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
