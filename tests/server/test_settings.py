import pytest

from server.settings import SettingsError, load_settings

GOOD_SECRET = "x" * 40


def test_defaults_use_the_sqlite_file_under_var(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings(COMPANION_VAR_DIR=str(tmp_path))
    assert settings.database_url == f"sqlite:///{tmp_path / 'companion.sqlite3'}"


def test_development_secret_is_generated_once_and_kept(tmp_path):
    settings = load_settings(COMPANION_VAR_DIR=str(tmp_path))
    first = settings.secret()
    assert len(first) >= 32
    assert load_settings(COMPANION_VAR_DIR=str(tmp_path)).secret() == first


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PUBLIC_BASE_URL": "http://plain.example.org"}, "PUBLIC_BASE_URL"),
        ({"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": ""}, "TWILIO_FROM_NUMBER"),
    ],
)
def test_production_refuses_missing_or_placeholder_settings(overrides, named):
    base = {
        "COMPANION_ENV": "production",
        "SECRET_KEY": GOOD_SECRET,
        "PUBLIC_BASE_URL": "https://c.example.org",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "tok",
        "TWILIO_FROM_NUMBER": "+15555550199",
    }
    with pytest.raises(SettingsError) as error:
        load_settings(**{**base, **overrides})
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_invalid_timezone_is_named():
    with pytest.raises(SettingsError, match=r"^DEFAULT_TIMEZONE: 'Mars/Olympus' is not an IANA time zone"):
        load_settings(DEFAULT_TIMEZONE="Mars/Olympus")


def test_invalid_port_is_named():
    with pytest.raises(SettingsError, match=r"^PORT: "):
        load_settings(PORT="99999")


def test_production_accepts_complete_settings():
    settings = load_settings(
        COMPANION_ENV="production",
        SECRET_KEY=GOOD_SECRET,
        PUBLIC_BASE_URL="https://c.example.org/",
        TWILIO_ACCOUNT_SID="AC1",
        TWILIO_AUTH_TOKEN="tok",
        TWILIO_MESSAGING_SERVICE_SID="MG1",
    )
    assert settings.public_base_url == "https://c.example.org"
    assert settings.twilio_enabled


PRODUCTION = {"COMPANION_ENV": "production", "SECRET_KEY": GOOD_SECRET, "PUBLIC_BASE_URL": "https://c.example.org"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM_NUMBER": "+15555550199"}


def test_production_refuses_to_start_without_an_sms_provider():
    with pytest.raises(SettingsError, match=r"^TWILIO_ACCOUNT_SID must be set in production"):
        load_settings(**PRODUCTION)


def test_production_refuses_the_console_sms_channel_even_with_twilio_configured():
    with pytest.raises(SettingsError, match=r"^SMS_CHANNEL=console is refused in production"):
        load_settings(**PRODUCTION, **TWILIO, SMS_CHANNEL="console")


def test_development_may_choose_the_console_channel_explicitly(tmp_path):
    settings = load_settings(COMPANION_VAR_DIR=str(tmp_path), SMS_CHANNEL="console", **TWILIO)
    assert not settings.twilio_enabled
    assert settings.sms_channel_name == "console"


def test_twilio_channel_without_an_account_is_named(tmp_path):
    with pytest.raises(SettingsError, match=r"SMS_CHANNEL=twilio needs TWILIO_ACCOUNT_SID"):
        load_settings(COMPANION_VAR_DIR=str(tmp_path), SMS_CHANNEL="twilio")
