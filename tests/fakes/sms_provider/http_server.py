"""The fake's HTTP plumbing: a threading server that can drop keep-alive connections, and the request handler
that routes `/_fake/...` to the control endpoints and everything else to the provider's Messages API."""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .control import answer_control
from .wire import json_default, twilio_error

if TYPE_CHECKING:
    from .provider import FakeSmsProvider

logger = logging.getLogger(__name__)


class HttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that can drop every open keep-alive connection when it stops."""

    daemon_threads = True
    block_on_close = False  # do not join handler threads (keep-alive clients may hold them open)
    request_queue_size = 1024  # several client processes connect at once; the default backlog is 5

    def __init__(self, address: tuple[str, int], provider: FakeSmsProvider) -> None:
        self.provider = provider
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # type: ignore[override]
        # Clients that gave up (timeouts) make writes fail with broken pipes; that is expected here.
        logger.debug("fake SMS provider: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: HttpServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # no per-request logging: the benchmark sends tens of thousands of requests

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        provider = self.server.provider
        path = self.path.split("?", 1)[0]
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path.startswith("/_fake/"):
                status, payload, headers = answer_control(provider, method, path, query, raw)
            else:
                status, payload, headers = provider.answer_api(self.headers, method, path, raw)
        except Reset:
            self.close_connection = True
            sock = self.connection
            # SO_LINGER 0: close() sends RST instead of FIN, so the client sees "connection reset".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        except Exception:
            logger.exception("fake SMS provider: error handling %s %s", method, path)
            status, payload, headers = 500, twilio_error(20500, "Internal Server Error", 500), {}
        self._write(status, payload, headers)

    def _write(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        body = json.dumps(payload, default=json_default).encode()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True  # the client gave up (timed out) before the answer


class Reset(Exception):
    """Raised inside request handling to drop the connection without an answer."""
