"""SMS provider webhooks: inbound texts and delivery receipts (architecture flow 4).

Both are authenticated by the provider's `X-Twilio-Signature` over PUBLIC_BASE_URL + path + query and the posted
form (403 otherwise); they are exempt from CSRF in server.app. Handlers only verify and call a service.
"""

from __future__ import annotations

import logging
from functools import partial

import anyio.to_thread
from litestar import Request, post
from litestar.response import Response
from twilio.request_validator import RequestValidator

from ..context import Ctx
from ..services.outbox.receipts import record_delivery_status
from ..services.sms_inbound import handle_inbound_sms

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signed(ctx, request: Request, form) -> bool:
    """Whether the provider signed exactly this URL and form with our auth token."""
    token = ctx.settings.twilio_auth_token.get_secret_value()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    # The provider signs the public URL it called, not the address we see behind a proxy.
    url = ctx.settings.public_base_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RequestValidator(token).validate(url, form, signature)


def _forbidden() -> Response:
    return Response({"error": "forbidden", "message": "Invalid provider signature."}, status_code=403)


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


@post(
    "/sms/inbound",
    status_code=200,
    tags=["sms"],
    summary="A patient's text message (provider webhook)",
    include_in_schema=False,
)
async def sms_inbound(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    if not _signed(ctx, request, form):
        log.warning("inbound SMS webhook with a missing or invalid signature from %s", request.client)
        return _forbidden()
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    if not sid or not form.get("From"):
        return _twiml()  # nothing we can act on; a 4xx would only make the provider retry
    # The reply goes through the outbox (see server.services.sms_inbound), so the TwiML answer is always empty.
    await anyio.to_thread.run_sync(
        partial(
            handle_inbound_sms,
            ctx,
            message_sid=sid,
            from_number=form.get("From"),
            to_number=form.get("To") or "",
            body=form.get("Body") or "",
        )
    )
    return _twiml()


@post(
    "/sms/status",
    status_code=200,
    tags=["sms"],
    summary="Delivery receipt for a message we sent (provider webhook)",
    include_in_schema=False,
)
async def sms_status(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    if not _signed(ctx, request, form):
        log.warning("status callback with a missing or invalid signature from %s", request.client)
        return _forbidden()
    reminder_id = request.query_params.get("r")
    error = form.get("ErrorCode")
    # Unknown message ids still get 200: the provider must not retry something we will never recognise.
    await anyio.to_thread.run_sync(
        partial(
            record_delivery_status,
            ctx,
            message_sid=form.get("MessageSid") or form.get("SmsSid") or "",
            status=form.get("MessageStatus") or form.get("SmsStatus") or "",
            error_code=int(error) if error and error.isdigit() else None,
            reminder_id=int(reminder_id) if reminder_id and reminder_id.isdigit() else None,
        )
    )
    return Response("", status_code=200, media_type="text/plain")


ROUTES = [sms_inbound, sms_status]
