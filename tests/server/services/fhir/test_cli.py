"""`companion fhir-client add` registers a client and prints its id and secret once; the secret gets a token."""

from click.testing import CliRunner
from sqlmodel import Session, select

from server.cli import cli
from server.db import create_db_engine
from server.models import Clinic, FhirClient


def test_fhir_client_add_prints_the_id_and_a_secret_that_works(tmp_path, client, engine, settings, clock):
    runner = CliRunner(
        env={
            "DATABASE_URL": settings.database_url,
            "COMPANION_VAR_DIR": str(tmp_path / "var"),
            "COMPANION_ENV": "development",
        }
    )
    from server.db import session_scope

    with session_scope(engine) as session:
        clinic = Clinic(name="CLI clinic", phone="+15555550100", timezone="America/New_York", created_at=clock.now())
        session.add(clinic)
    result = runner.invoke(
        cli,
        [
            "fhir-client",
            "add",
            "Hospital EHR",
            "--clinic",
            str(clinic.id),
            "--scope",
            "system/Observation.write",
            "--scope",
            "system/*.read",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    with Session(create_db_engine(settings.database_url)) as session:
        row = session.exec(select(FhirClient)).one()
    assert row.client_id == lines["client_id"] and lines["client_secret"] not in row.secret_hash
    assert row.scopes == "system/*.read system/Observation.write"
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": lines["client_id"],
            "client_secret": lines["client_secret"],
        },
    )
    assert token.status_code == 200 and token.json()["scope"] == "system/*.read system/Observation.write"
    bad = runner.invoke(cli, ["fhir-client", "add", "X", "--clinic", str(clinic.id), "--scope", "user/*.*"])
    assert bad.exit_code != 0 and "scope" in bad.output
