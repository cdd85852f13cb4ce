"""The urgent-tier patient-reported thresholds as one machine-readable table (clinical reference §3, flow 7).

The rules (server/clinical/rules.py) read their urgent thresholds from `RED_FLAGS`, and the phone gets the same table
as JSON with the app shell (`/static-data/red-flags.json`, cached by the service worker), so that an entry saved
offline that meets one of them shows "Call your care team now" before any network (web/static/patient/redflags.js).
The server stays the authority after sync. Each row: the rule, the measure the phone computes from one entry, the
comparison and the threshold. A rule is met when any of its rows is.

Measures: `temperature_c` (°F converted as the server does, to 2 decimals), `chills`, `nausea` (grade 0-3),
`vomiting_episodes`, `stools_above_usual` (loose stools minus the patient's usual number), `weight_loss_pct`
(below the enrollment baseline, in kg without rounding), `bleeding` and `neuro` (the §5 answer values).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Measure = Literal[
    "temperature_c",
    "chills",
    "nausea",
    "vomiting_episodes",
    "stools_above_usual",
    "weight_loss_pct",
    "bleeding",
    "neuro",
]


class RedFlag(TypedDict):
    rule: str
    measure: Measure
    op: Literal[">=", "=="]
    value: float | int | bool | str


VERSION = 1

RED_FLAGS: tuple[RedFlag, ...] = (
    # clinical-reference: R-NV-3 (nausea grade 3, or 6 or more vomiting episodes in 24 h)
    {"rule": "R-NV-3", "measure": "nausea", "op": ">=", "value": 3},
    {"rule": "R-NV-3", "measure": "vomiting_episodes", "op": ">=", "value": 6},
    # clinical-reference: R-DIA-3 (7 or more stools/day above usual)
    {"rule": "R-DIA-3", "measure": "stools_above_usual", "op": ">=", "value": 7},
    # clinical-reference: R-WT-20 (20% or more below baseline; the phone knows the baseline from the weight page)
    {"rule": "R-WT-20", "measure": "weight_loss_pct", "op": ">=", "value": 20.0},
    # clinical-reference: R-FEVER (38.0 °C / 100.4 °F, or chills/shaking)
    {"rule": "R-FEVER", "measure": "temperature_c", "op": ">=", "value": 38.0},
    {"rule": "R-FEVER", "measure": "chills", "op": "==", "value": True},
    # clinical-reference: R-BLEED (major: urgent)
    {"rule": "R-BLEED", "measure": "bleeding", "op": "==", "value": "major"},
    # clinical-reference: R-NEURO (confusion or fainting: urgent)
    {"rule": "R-NEURO", "measure": "neuro", "op": "==", "value": "major"},
)

RED_FLAG_RULES = frozenset(row["rule"] for row in RED_FLAGS)


def threshold(rule: str, measure: Measure) -> Any:
    """The threshold of one row of the table (the rules' constants come from here, never a second copy)."""
    for row in RED_FLAGS:
        if row["rule"] == rule and row["measure"] == measure:
            return row["value"]
    raise KeyError((rule, measure))


def as_json() -> dict[str, Any]:
    """The table as the phone gets it."""
    return {"version": VERSION, "flags": [dict(row) for row in RED_FLAGS]}
