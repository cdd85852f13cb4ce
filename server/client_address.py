"""The client's address as the trusted-proxy rule resolves it (audit rows, rate limits, sign-in throttling).

Only a direct peer listed in FORWARDED_ALLOW_IPS is a proxy whose X-Forwarded-For is believed; the client is then the
right-most address in that header that is not itself a trusted proxy ("*" trusts every hop: the left-most address,
as uvicorn does; only for an app no client can reach except through the proxy). With the setting empty (the default), the
direct peer is the client and the header is ignored, so nobody can put a made-up address in the audit log.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from litestar.connection import ASGIConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...] | None:
    """The parsed setting: None for "*" (every peer is a proxy), else the networks (empty: no proxy trusted)."""
    networks = []
    for part in (p.strip() for p in setting.split(",")):
        if not part:
            continue
        if part == "*":
            return None
        networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _is_trusted(address: str, networks: tuple[Network, ...] | None) -> bool:
    if networks is None:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def resolve_client_address(peer: str | None, forwarded_for: list[str], setting: str) -> str | None:
    """The client address from the direct peer and the X-Forwarded-For headers under the FORWARDED_ALLOW_IPS rule."""
    networks = trusted_networks(setting)
    if peer is None or not setting.strip() or not _is_trusted(peer, networks):
        return peer
    chain = [part.strip() for header in forwarded_for for part in header.split(",") if part.strip()]
    if networks is None:  # "*": every hop is trusted, so the first address is the client (as uvicorn does)
        chain = chain[:1]
    for address in reversed(chain):
        if networks is None or not _is_trusted(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:  # garbage from a client: keep the proxy's own address rather than a made-up one
                return peer
    return peer


def client_address(connection: ASGIConnection) -> str | None:
    """Where this request came from, as the trusted-proxy rule resolves it."""
    peer = connection.client.host if connection.client else None
    setting = connection.app.state.ctx.settings.forwarded_allow_ips
    return resolve_client_address(peer, connection.headers.getall("x-forwarded-for", []), setting)
