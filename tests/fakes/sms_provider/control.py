"""Driving the fake from another process: the JSON control endpoints under `/_fake/`, and `FakeSmsControl`, their
client (the benchmark and the e2e harness use it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx

if TYPE_CHECKING:
    from .provider import FakeSmsProvider


def answer_control(
    provider: FakeSmsProvider, method: str, path: str, query: str, raw: bytes
) -> tuple[int, Any, dict[str, str]]:
    """JSON endpoints so another process (benchmark, e2e harness) can drive the fake."""
    name = path[len("/_fake/") :].strip("/")
    try:
        args: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        result = _run_control(provider, method, name, args, parse_qs(query))
    except (ValueError, KeyError, TypeError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}, {}
    if result is None:
        return 404, {"error": f"no control endpoint {method} {path}"}, {}
    return 200, result, {}


def _run_control(
    provider: FakeSmsProvider, method: str, name: str, args: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    if method == "GET" and name == "health":
        return {"ok": True, "account_sid": provider.account_sid, "phone_number": provider.phone_number}
    if method == "GET" and name == "messages":
        to = query.get("to", [None])[0]
        return {"messages": provider.messages_to(to) if to else provider.messages}
    if method == "GET" and name == "stats":
        return provider.stats
    if method == "GET" and name == "deliveries":
        return {"deliveries": [asdict(d) for d in provider.deliveries]}
    if method != "POST":
        return None
    if name == "reset":
        provider.reset()
        return {"ok": True}
    if name == "config":
        _configure(provider, args)
        return {"ok": True}
    if name == "fail_next":
        provider.fail_next(args["kind"], int(args.get("count", 1)))
        return {"ok": True}
    if name in ("opt_out", "opt_in", "invalid", "not_mobile", "clear_number"):
        getattr(provider, name)(args["number"])
        return {"ok": True}
    if name == "undeliverable":
        provider.undeliverable(args["number"], int(args.get("error_code", 30003)))
        return {"ok": True}
    if name == "number_error":
        provider.set_number_error(
            args["number"], int(args["code"]), args.get("message"), status=int(args.get("status", 400))
        )
        return {"ok": True}
    if name == "status":
        delivery = provider.send_status(
            args["sid"],
            args["status"],
            error_code=args.get("error_code"),
            post_to=args.get("post_to"),
            public_url=args.get("public_url"),
        )
        return asdict(delivery)
    if name == "inbound":
        delivery = provider.send_inbound(
            args["from"],
            args["body"],
            to=args.get("to"),
            post_to=args.get("post_to"),
            public_url=args.get("public_url"),
        )
        return asdict(delivery)
    return None


def _configure(provider: FakeSmsProvider, args: Mapping[str, Any]) -> None:
    known = {
        "failure_rate",
        "failure_kinds",
        "retry_after",
        "latency",
        "timeout_after_accept",
        "timeout_after_accept_times",
        "auto_deliver",
        "auto_deliver_delay",
        "inbound_webhook",
        "callback_routes",
    }
    unknown = set(args) - known
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    if "failure_rate" in args or "failure_kinds" in args or "retry_after" in args:
        rate, kinds, retry_after = provider.failure_settings()
        provider.set_failure_rate(
            float(args.get("failure_rate", rate)),
            args.get("failure_kinds", kinds),
            retry_after=int(args.get("retry_after", retry_after)),
        )
    if "latency" in args:
        provider.set_latency(args["latency"])
    if "timeout_after_accept" in args:
        provider.timeout_after_accept(args["timeout_after_accept"], times=args.get("timeout_after_accept_times"))
    if "auto_deliver" in args or "auto_deliver_delay" in args:
        enabled, delay = provider.auto_delivery()
        provider.set_auto_deliver(
            bool(args.get("auto_deliver", enabled)), delay=float(args.get("auto_deliver_delay", delay))
        )
    if "inbound_webhook" in args:
        hook = args["inbound_webhook"] or {}
        provider.set_inbound_webhook(hook.get("public_url"), hook.get("post_to"))
    for public_prefix, local_prefix in args.get("callback_routes", ()):
        provider.route_callbacks(public_prefix, local_prefix)


class FakeSmsControl:
    """Drives a FakeSmsProvider running in another process, through its ``/_fake/`` endpoints."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeSmsControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, name: str, **args: Any) -> Any:
        response = self._http.post(f"/_fake/{name}", json=args)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._http.get("/_fake/health").raise_for_status().json()

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages (``accepted_at`` as an ISO-8601 string)."""
        params = {"to": to} if to else None
        return self._http.get("/_fake/messages", params=params).raise_for_status().json()["messages"]

    def stats(self) -> dict[str, int]:
        return self._http.get("/_fake/stats").raise_for_status().json()

    def reset(self) -> None:
        self._post("reset")

    def configure(self, **settings: Any) -> None:
        """Keys: failure_rate, failure_kinds, retry_after, latency, timeout_after_accept,
        timeout_after_accept_times, auto_deliver, auto_deliver_delay, inbound_webhook, callback_routes."""
        self._post("config", **settings)

    def fail_next(self, kind: str | int, count: int = 1) -> None:
        self._post("fail_next", kind=str(kind), count=count)

    def opt_out(self, number: str) -> None:
        self._post("opt_out", number=number)

    def invalid(self, number: str) -> None:
        self._post("invalid", number=number)

    def clear_number(self, number: str) -> None:
        self._post("clear_number", number=number)

    def send_status(self, sid: str, status: str, **kwargs: Any) -> dict[str, Any]:
        return self._post("status", sid=sid, status=status, **kwargs)

    def send_inbound(self, from_: str, body: str, **kwargs: Any) -> dict[str, Any]:
        return self._post("inbound", **{"from": from_, "body": body}, **kwargs)
