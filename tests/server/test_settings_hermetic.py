"""Tests build their settings hermetically: a developer's `.env` or shell variables never change an outcome."""

from __future__ import annotations

import os


def test_a_dotenv_file_in_the_working_directory_is_not_read(settings, tmp_path, monkeypatch):
    from server.settings import load_settings

    (tmp_path / ".env").write_text("TWILIO_ACCOUNT_SID=ACdeveloper\nCLINIC_NAME=My Dev Clinic\n")
    monkeypatch.chdir(tmp_path)
    built = load_settings(COMPANION_ENV="test", COMPANION_VAR_DIR=str(tmp_path / "var"))
    assert not built.twilio_enabled
    assert built.clinic_name == "Demo Oncology Clinic"


def test_the_dotenv_file_is_read_outside_the_test_suite(tmp_path, monkeypatch):
    from server.settings import ENV_FILE_VARIABLE, load_settings

    (tmp_path / ".env").write_text("CLINIC_NAME=My Dev Clinic\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_FILE_VARIABLE)
    assert load_settings(COMPANION_VAR_DIR=str(tmp_path / "var")).clinic_name == "My Dev Clinic"


def test_setting_variables_of_the_shell_are_cleared_for_the_suite():
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SECRET_KEY", "CLINIC_PHONE", "COMPANION_ENV"):
        assert name not in os.environ
