"""Trusted proxies (FORWARDED_ALLOW_IPS) and access logs without sign-in tokens (issue 13, items 5, 6, 14)."""

from __future__ import annotations

import logging
import logging.config

from server.access_log import uvicorn_log_config
from server.client_address import resolve_client_address


def test_x_forwarded_for_counts_only_from_a_trusted_proxy():
    chain = ["6.6.6.6, 198.51.100.7"]  # a client-supplied address, then the one our proxy saw
    assert resolve_client_address("203.0.113.1", chain, "") == "203.0.113.1"  # off by default: the peer
    assert resolve_client_address("203.0.113.1", chain, "10.0.0.0/8") == "203.0.113.1"  # not our proxy
    assert resolve_client_address("10.0.0.2", chain, "10.0.0.0/8") == "198.51.100.7"  # not the forged one
    assert resolve_client_address("10.0.0.2", ["198.51.100.7, 10.0.0.3"], "10.0.0.0/8") == "198.51.100.7"
    assert resolve_client_address("10.0.0.2", ["not-an-address"], "10.0.0.0/8") == "10.0.0.2"
    assert resolve_client_address("10.0.0.2", [], "10.0.0.0/8") == "10.0.0.2"


def test_the_access_log_never_shows_a_sign_in_token(caplog):
    logging.config.dictConfig(uvicorn_log_config())
    logger = logging.getLogger("uvicorn.access")
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    try:
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/i/SECRET-token_123?x=1", "1.1", 200)
    finally:
        logger.removeHandler(handler)
    assert records and "SECRET" not in records[0] and "/i/…" in records[0]
