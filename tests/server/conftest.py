"""Fixtures shared by the server tests: a patient and their phone (a signed-in TestClient)."""

from tests.support.patient import patient, phone  # noqa: F401 (fixtures shared by the server tests)
