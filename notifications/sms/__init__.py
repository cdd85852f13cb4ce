"""SMS integration: the Twilio channel, a console channel for development, and a local fake provider."""

from notifications.sms.channel import ConsoleSmsChannel, Outcome, SendResult, SmsChannel, SmsSender

__all__ = ["ConsoleSmsChannel", "Outcome", "SendResult", "SmsChannel", "SmsSender"]
