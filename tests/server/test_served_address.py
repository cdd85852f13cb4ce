"""Every link follows the address the app is served on (issue 12 item 8): `PORT=8080 make run` prints and sends
links on :8080; PUBLIC_BASE_URL wins when set."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from server.cli import cli
from server.settings import load_settings


@pytest.fixture(autouse=True)
def _no_address_in_the_environment(monkeypatch):
    for name in ("PORT", "HOST", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_links_follow_the_port_and_host_unless_public_base_url_is_set(tmp_path):
    var = str(tmp_path)
    assert load_settings(COMPANION_VAR_DIR=var).public_base_url == "http://127.0.0.1:8000"
    assert load_settings(COMPANION_VAR_DIR=var, PORT=8080).public_base_url == "http://127.0.0.1:8080"
    assert load_settings(COMPANION_VAR_DIR=var, PORT=8080, HOST="0.0.0.0").public_base_url == "http://127.0.0.1:8080"
    assert (
        load_settings(COMPANION_VAR_DIR=var, PORT=8080, HOST="192.168.1.20").public_base_url
        == "http://192.168.1.20:8080"
    )
    assert (
        load_settings(COMPANION_VAR_DIR=var, PORT=8080, PUBLIC_BASE_URL="http://10.0.0.5:8000").public_base_url
        == "http://10.0.0.5:8000"
    )


def test_port_8080_make_run_prints_the_staff_url_and_sign_in_links_on_8080(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "COMPANION_VAR_DIR": str(tmp_path / "var"),
        "COMPANION_ENV": "development",
        "PORT": "8080",
    }
    runner = CliRunner(env=env)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8080/staff" in result.output
    assert "http://127.0.0.1:8080/i/" in result.output and ":8000" not in result.output
