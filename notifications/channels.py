"""The channels a worker sends through, built once from settings: SMS (Twilio or the console) and Web Push."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.push import WebPushChannel
from notifications.sms.channel import ConsoleSmsChannel, SmsChannel, SmsSender
from server.context import AppContext
from server.services.push_keys import vapid_keys


@dataclass
class Channels:
    sms: SmsSender
    push: WebPushChannel | None = None
    sms_name: str = "sms"  # what OutboundMessage.channel records: "console" when nothing really leaves
    # Where the provider posts delivery receipts; each message adds ?r=<reminder id> (the URL is signed with it).
    status_callback_url: str | None = None

    def status_callback_for(self, reminder_id: int) -> str | None:
        return f"{self.status_callback_url}?r={reminder_id}" if self.status_callback_url else None

    def close(self) -> None:
        for channel in (self.sms, self.push):
            close = getattr(channel, "close", None)
            if close is not None:
                close()


def build_channels(ctx: AppContext) -> Channels:
    """Twilio when TWILIO_ACCOUNT_SID is set, otherwise the console (`make run`); Web Push with this install's keys."""
    settings = ctx.settings
    if settings.twilio_enabled:
        # A Messaging Service picks the sender itself; prefer it when both are configured.
        service = settings.twilio_messaging_service_sid or None
        sms: SmsSender = SmsChannel(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=None if service else settings.twilio_from_number,
            messaging_service_sid=service,
            api_base=settings.twilio_api_base or None,
            timeout=settings.sms_timeout_seconds,
        )
        name, callback = "sms", f"{settings.public_base_url}/sms/status"
    else:
        sms, name, callback = ConsoleSmsChannel(), "console", None
    keys = vapid_keys(ctx.engine, ctx.clock.now())
    push = WebPushChannel(keys.private_key, settings.vapid_subject, timeout=settings.sms_timeout_seconds)
    return Channels(sms=sms, push=push, sms_name=name, status_callback_url=callback)
