"""Run the fake SMS provider in the foreground: ``make fake-sms``, or ``python -m tests.fakes.sms_provider --port 8099``.

It prints the TWILIO_* settings that point the app and the worker at it.
"""

from __future__ import annotations

import argparse
import signal
import threading

from .provider import FakeSmsProvider
from .wire import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN


def main(argv: list[str] | None = None) -> None:
    """Run the fake provider in the foreground until interrupted (``make fake-sms``, benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.sms_provider", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, nargs="+", metavar="SECONDS", help="fixed, or LO HI")
    parser.add_argument("--auto-deliver", action="store_true", help="post sent+delivered status callbacks")
    parser.add_argument("--inbound-webhook", metavar="PUBLIC_URL", help="where send_inbound posts by default")
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="PUBLIC_PREFIX=LOCAL_PREFIX",
        help="physically post webhooks for PUBLIC_PREFIX to LOCAL_PREFIX (signature still covers the public URL)",
    )
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)

    provider = FakeSmsProvider(args.account_sid, args.auth_token, args.host, args.port, seed=args.seed)
    provider.set_failure_rate(args.failure_rate)
    if args.latency:
        provider.set_latency(args.latency[0] if len(args.latency) == 1 else tuple(args.latency[:2]))
    provider.set_auto_deliver(args.auto_deliver)
    if args.inbound_webhook:
        provider.set_inbound_webhook(args.inbound_webhook)
    for route in args.route:
        public_prefix, _, local_prefix = route.partition("=")
        provider.route_callbacks(public_prefix, local_prefix)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with provider:
        print(f"fake SMS provider listening on {provider.base_url}", flush=True)
        print(f"TWILIO_API_BASE={provider.base_url}", flush=True)
        print(f"TWILIO_ACCOUNT_SID={provider.account_sid}", flush=True)
        print(f"TWILIO_AUTH_TOKEN={provider.auth_token}", flush=True)
        print(f"control endpoints: {provider.base_url}/_fake/{{health,messages,stats,reset,config,...}}", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
