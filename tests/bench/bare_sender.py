"""The burst bench's floor, one process of it: the bare twilio SDK loop (no database, no dispatcher) sending COUNT
messages through THREADS threads to the local fake provider, as fast as it answers. Run by test_bench_dispatch.py
as `python tests/bench/bare_sender.py ACCOUNT_SID AUTH_TOKEN API_BASE OFFSET COUNT THREADS`, one per worker process
it stands in for; prints "ready", waits for a line on stdin, sends, prints "done"."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from notifications.sms.channel import SmsChannel  # noqa: E402

BODY = (
    "Bench Clinic: Time for your 8:00 AM dose: 80 mg (4 tablets), swallowed whole with water. Also take your "
    "steroid tablets (20 mg). Reply T when taken. http://bench.local/"
)


def main(sid: str, token: str, api_base: str, offset: int, count: int, threads: int) -> None:
    channel = SmsChannel(sid, token, from_number="+15005550006", api_base=api_base, timeout=10)

    def send(n: int) -> None:
        result = channel.send(f"+1555500{n % 1000:04d}", BODY, status_callback=f"http://bench.local/sms/status?r={n}")
        assert result.accepted, result

    print("ready", flush=True)
    sys.stdin.readline()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(offset, offset + count)))
    channel.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:7]))
