"""Hostile values for the fuzzers (test_fuzz_api.py, test_fuzz_forms.py): what the adversarial review sent, and
Hypothesis' own text, numbers and shapes around them."""

from __future__ import annotations

from hypothesis import strategies as st

EDGE_VALUES = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "1e309",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-02-30",
    "24:61",
    str(2**63),
    str(2**70),
    str(-(2**63) - 1),
    "-1",
    "0",
    "1.5",
    "true",
    "null",
    "[]",
    "{}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "\ud7ff",
    "é" * 300,
    "x" * 5000,
    " padded-key-0001 ",
]

scalars = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
form_values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.text(max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
