"""Input no database or page can take: NUL characters (PostgreSQL text refuses them), nesting beyond reason.

Every typed input (patient inputs, staff forms) refuses a NUL in any field with a 4xx naming the field, so nothing is
stored and no request fails with a 500 halfway.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 16  # no input of this app nests deeper; deeper values are refused as they are scanned
NUL_MESSAGE = "Contains a character that is not allowed (NUL)."


def has_nul(value: Any, depth: int = 0) -> bool:
    """Whether a string (or any string inside lists and dicts, keys included) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if depth > MAX_DEPTH:
        return True  # refused like a NUL: no honest input nests this deep
    if isinstance(value, dict):
        return any(has_nul(k, depth + 1) or has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v, depth + 1) for v in value)
    return False


def strip_nul(text: str) -> str:
    """The text without NUL characters (an SMS body: the message still gets its normal reply)."""
    return text.replace("\x00", "")
