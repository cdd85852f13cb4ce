"""Property-based API fuzzing driven by the OpenAPI schema: every operation, every documented parameter and body
property, filled with hostile values (and sometimes the schema's own enum values so deeper code runs); no answer may
be 5xx. Runs as a signed-in patient on whichever database the suite runs on (SQLite by default, PostgreSQL with
DATABASE_URL); example counts are bounded so it takes seconds.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from tests.support.fuzz import json_values, scalars
from tests.support.patient import BASE_URL, PatientBrowser, sign_in_link

EXAMPLES = 120  # in all, spread over every operation


def node_ref_parts(ref: str) -> list[str]:
    return ref.lstrip("#/").split("/")


def _deref(schema: dict, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target = schema
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def _enums(schema: dict, node: Any) -> list[Any]:
    node = _deref(schema, node)
    if not isinstance(node, dict):
        return []
    found = list(node.get("enum", []))
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            found += _enums(schema, option)
    return found


def _value_for(schema: dict, prop: Any) -> st.SearchStrategy:
    enums = _enums(schema, prop)
    return st.one_of(st.sampled_from(enums), json_values) if enums else json_values


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


@st.composite
def requests(draw, schema: dict) -> tuple[str, str, dict, Any]:
    path, method, op = draw(st.sampled_from(_operations(schema)))
    params = {p["name"]: p for p in op.get("parameters", [])}
    concrete = path
    for name in re.findall(r"{(\w+)}", path):
        value = draw(
            st.one_of(st.sampled_from(_enums(schema, params.get(name, {}).get("schema")) or ["dose"]), scalars)
        )
        concrete = concrete.replace("{" + name + "}", quote(str(value), safe="") or "x")
    query = {name: str(draw(scalars)) for name, p in params.items() if p.get("in") == "query" and draw(st.booleans())}
    body = None
    content = (op.get("requestBody") or {}).get("content", {})
    if "application/json" in content:
        model = _deref(schema, content["application/json"].get("schema", {}))
        props = model.get("properties", {}) if isinstance(model, dict) else {}
        body = {name: draw(_value_for(schema, prop)) for name, prop in props.items() if draw(st.booleans())}
        if draw(st.integers(0, 9)) == 0:
            body = draw(json_values)  # not even an object
    return method.upper(), concrete, query, body


@pytest.fixture
def signed_in(app, engine, patient, clock):  # noqa: F811
    with TestClient(app, base_url=BASE_URL) as client:
        browser = PatientBrowser(client)
        browser.sign_in(sign_in_link(engine, patient, clock.now()))
        yield browser


def test_no_api_input_answers_5xx(signed_in):
    schema = signed_in.client.get("/schema/openapi.json").json()
    assert len(_operations(schema)) >= 10  # the walk really covers the API
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.data())
    def walk(data):
        method, path, query, body = data.draw(requests(schema))
        # allow_nan: NaN and Infinity go out as the bare words some clients send (not valid JSON)
        answer = signed_in.client.request(
            method,
            path,
            params=query,
            content=None if body is None else json.dumps(body, allow_nan=True),
            headers={"x-csrftoken": signed_in.csrf, "content-type": "application/json"},
        )
        if answer.status_code >= 500:
            failures.append(f"{method} {path} {query} {body!r:.300}: {answer.status_code} {answer.text[:200]}")

    walk()
    assert not failures, "\n".join(failures[:10])
