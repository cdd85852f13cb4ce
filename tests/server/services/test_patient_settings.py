"""Web Push subscriptions are accepted only for the browsers' push services, never an internal address (SSRF)."""

from __future__ import annotations

import pytest

from server.services.patient_settings import is_known_push_service
from server.settings import Settings
from tests.support.patient import stored

HOSTS = Settings.model_fields["push_service_hosts"].default


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:123",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
    ],
)
def test_the_major_browsers_push_services_are_accepted(endpoint):
    assert is_known_push_service(endpoint, HOSTS)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/push",
        "https://10.0.0.5/push",
        "https://localhost/push",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://fcm.googleapis.com.evil.example/x",
        "https://evil.example/fcm.googleapis.com",
        "https://user@fcm.googleapis.com/x",
        "https://fcm.googleapis.com:8443/x",
        "http://fcm.googleapis.com/x",
        "https://notify.windows.com/x",  # "*.notify.windows.com" means a subdomain
        "https://[::1]/push",
    ],
)
def test_other_hosts_ports_and_tricks_are_refused(endpoint):
    assert not is_known_push_service(endpoint, HOSTS)


def test_an_internal_endpoint_is_refused_with_the_field_named_and_nothing_stored(phone, engine, patient):
    from server.models import PushSubscription

    bad = phone.api(
        "POST",
        "/api/push-subscriptions",
        {"endpoint": "https://169.254.169.254/latest", "keys": {"p256dh": "BKey", "auth": "secret"}},
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "endpoint"
    assert stored(engine, PushSubscription, patient.id) == []
