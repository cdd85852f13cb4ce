"""Sign-in tokens never reach the access log: uvicorn's access lines have `/i/<token>` replaced by `/i/…`."""

from __future__ import annotations

import logging
import re

_TOKEN_PATH = re.compile(r"(/i/)[^/?\s\"]+")


def redact_tokens(text: str) -> str:
    """The text with every sign-in link's token cut out."""
    return _TOKEN_PATH.sub(r"\1…", text)


class RedactSignInTokens(logging.Filter):
    """A logging filter for `uvicorn.access` (its arguments hold the request path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        return True


def uvicorn_log_config() -> dict:
    """uvicorn's own logging configuration with the filter on its access logger (for `uvicorn.run(log_config=)`)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_sign_in_tokens"] = {"()": f"{__name__}.RedactSignInTokens"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_sign_in_tokens"]
    return config
