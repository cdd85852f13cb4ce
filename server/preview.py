"""Preview commands for the clinical core: print a schedule or evaluate a patient state, as JSON.

The lead registers them on the `companion` group: `cli.add_command(schedule_command)`, `cli.add_command(evaluate_command)`.
Bad input exits with code 2 and one line on stderr naming the field.
"""

from __future__ import annotations

import json
import sys

import click

from server.clinical.errors import ClinicalValidationError
from server.clinical.regimens import REGIMENS, TABLET_STRENGTH_MG_DEFAULT, DexamethasoneOnHold, Plan, PlanStatus
from server.clinical.rules import DoseEntry, LabEntry, PatientState, SymptomEntry, WeightEntry, evaluate
from server.clinical.schedule import (
    ScheduledEvent,
    ScheduleSetup,
    events_for_local_days,
    parse_instant,
    parse_local_date,
    parse_local_time,
    parse_weekday,
)
from server.i18n import render_advice

__all__ = ["schedule_command", "evaluate_command"]


class InputError(Exception):
    """Bad preview input: `path` names the field (e.g. entries[2].kg)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _fail(error: InputError) -> None:
    click.echo(f"error: {error.path}: {error.message}", err=True)
    sys.exit(2)


def _event_json(event: ScheduledEvent) -> dict:
    return {
        "kind": event.kind.value,
        "local": event.local.isoformat(),
        "utc": event.utc.isoformat().replace("+00:00", "Z"),
        "dose_mg": event.dose_mg,
        "tablets": event.tablets,
        "note": event.note,
    }


def _parse(parser, path: str, value: object):
    try:
        return parser(path, value)
    except ClinicalValidationError as exc:
        raise InputError(path, exc.message.removeprefix(f"{path} ")) from None


def _parse_date(path: str, value: object):
    return _parse(parse_local_date, path, value)


def _parse_time(path: str, value: object):
    return _parse(parse_local_time, path, value)


def _parse_instant(path: str, value: object):
    return _parse(parse_instant, path, value)


def _parse_weekdays(path: str, value: object) -> tuple[int, int]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not 1 <= len(names) <= 2:
        raise InputError(path, f"must be one or two weekdays, Day 1 then Day 3, e.g. mon,wed (got {value!r})")
    try:
        days = [parse_weekday(str(n)) for n in names]
    except ClinicalValidationError as exc:
        raise InputError(path, exc.message) from None
    day1 = days[0]
    day3 = days[1] if len(days) == 2 else (day1 + 2) % 7
    return day1, day3


def _build_setup(
    prefix: str,
    *,
    regimen,
    level,
    status,
    start,
    weekdays,
    dose_time,
    tz,
    antiemetic_offset,
    tablet_mg,
    dexamethasone_on_hold=None,
) -> ScheduleSetup:
    if regimen not in REGIMENS:
        raise InputError(f"{prefix}regimen", f"must be one of {', '.join(REGIMENS)} (got {regimen!r})")
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs"): a held plan with
    # dexamethasone says what happens to it, as staff must when they hold.
    if (
        status == PlanStatus.HELD.value
        and REGIMENS[regimen].dexamethasone_days != "none"
        and dexamethasone_on_hold is None
    ):
        raise InputError(
            f"{prefix}dexamethasone_on_hold", "a held plan with dexamethasone needs the staff choice: continue or hold"
        )
    try:
        plan = Plan(
            regimen=regimen,
            level=level,
            status=status,
            tablet_strength_mg=tablet_mg,
            dexamethasone_on_hold=dexamethasone_on_hold or DexamethasoneOnHold.CONTINUE,
        )
    except ClinicalValidationError as exc:
        name = {"level": "dose_level", "tablet_strength_mg": "tablet_strength_mg"}.get(exc.field, exc.field)
        raise InputError(f"{prefix}{name}", exc.message) from None
    day1, day3 = _parse_weekdays(f"{prefix}dose_weekdays", weekdays)
    try:
        return ScheduleSetup(
            plan=plan,
            start_date=_parse_date(f"{prefix}start_date", start),
            day1_weekday=day1,
            day3_weekday=day3,
            dose_time=_parse_time(f"{prefix}dose_time", dose_time),
            timezone=tz,
            antiemetic_offset_min=antiemetic_offset,
        )
    except ClinicalValidationError as exc:
        name = {"day1_weekday": "dose_weekdays", "day3_weekday": "dose_weekdays"}.get(exc.field, exc.field)
        raise InputError(f"{prefix}{name}", exc.message) from None


@click.command("schedule")
@click.option("--regimen", required=True, type=click.Choice(sorted(REGIMENS)), help="Regimen id.")
@click.option("--level", default=0, show_default=True, type=int, help="Dose level (0 = starting dose).")
@click.option("--start", "start", required=True, help="Start date, e.g. 2026-03-02.")
@click.option("--weekdays", default="mon,wed", show_default=True, help="Day 1 and Day 3 weekdays, two days apart.")
@click.option("--time", "dose_time", default="08:00", show_default=True, help="Local dose time.")
@click.option("--tz", required=True, help="IANA time zone, e.g. America/New_York.")
@click.option(
    "--days", default=14, show_default=True, type=click.IntRange(1, 366), help="Number of local days to show."
)
@click.option("--status", default="active", show_default=True, type=click.Choice([s.value for s in PlanStatus]))
@click.option("--antiemetic-offset", default=30, show_default=True, type=int, help="Minutes before each dose.")
@click.option(
    "--tablet-mg", default=TABLET_STRENGTH_MG_DEFAULT, show_default=True, type=int, help="Tablet strength in mg."
)
@click.option(
    "--dexamethasone-on-hold",
    "dexamethasone_on_hold",
    default=None,
    type=click.Choice([c.value for c in DexamethasoneOnHold]),
    help="With --status held and a regimen with dexamethasone (required then): what staff chose for it.",
)
def schedule_command(
    regimen, level, start, weekdays, dose_time, tz, days, status, antiemetic_offset, tablet_mg, dexamethasone_on_hold
):
    """Print the events of a selinexor schedule for --days local days from --start, as JSON."""
    try:
        setup = _build_setup(
            "--",
            regimen=regimen,
            level=level,
            status=status,
            start=start,
            weekdays=weekdays,
            dose_time=dose_time,
            tz=tz,
            antiemetic_offset=antiemetic_offset,
            tablet_mg=tablet_mg,
            dexamethasone_on_hold=dexamethasone_on_hold,
        )
    except InputError as exc:
        key = {
            "--regimen": "--regimen",
            "--dose_level": "--level",
            "--start_date": "--start",
            "--dose_weekdays": "--weekdays",
            "--dose_time": "--time",
            "--timezone": "--tz",
            "--antiemetic_offset_min": "--antiemetic-offset",
            "--tablet_strength_mg": "--tablet-mg",
            "--status": "--status",
            "--dexamethasone_on_hold": "--dexamethasone-on-hold",
        }.get(exc.path, exc.path)
        _fail(InputError(key, exc.message))
        return
    events = events_for_local_days(setup, setup.start_date, days)
    click.echo(json.dumps([_event_json(e) for e in events], indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------------------------------

# JSON name -> (entry field, kind of value)
_SYMPTOM_FIELDS = {
    "nausea": "grade",
    "vomiting_episodes": "count",
    "loose_stools": "count",
    "appetite": "grade",
    "fatigue": "grade",
    "temperature_c": "number",
    "chills": "bool",
    "bleeding": "text",
    "neuro": "text",
    "vision_change": "bool",
}
_LAB_FIELDS = ("sodium_mmol_l", "platelets_10e9_l", "anc_10e9_l", "hemoglobin_g_dl")


def _require(obj: dict, key: str, path: str):
    if key not in obj or obj[key] is None:
        raise InputError(f"{path}{key}", "is required")
    return obj[key]


def _number(path: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"must be a number (got {value!r})")
    return value


def _check_type(path: str, kind: str, value: object) -> object:
    if kind in ("grade", "count") and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InputError(path, f"must be a whole number (got {value!r})")
    if kind == "number":
        return _number(path, value)
    if kind == "bool" and not isinstance(value, bool):
        raise InputError(path, f"must be true or false (got {value!r})")
    if kind == "text" and not isinstance(value, str):
        raise InputError(path, f"must be text (got {value!r})")
    return value


def _entry(i: int, raw: object):
    path = f"entries[{i}]."
    if not isinstance(raw, dict):
        raise InputError(f"entries[{i}]", "must be an object")
    kind = _require(raw, "type", path)
    at = _parse_instant(f"{path}at", _require(raw, "at", path))
    try:
        if kind == "weight":
            kg = _number(f"{path}kg", _require(raw, "kg", path))
            try:
                return WeightEntry(at=at, kg=kg)
            except ClinicalValidationError as exc:
                raise InputError(f"{path}kg", exc.message) from None
        if kind == "symptoms":
            values = {
                name: _check_type(f"{path}{name}", k, raw[name])
                for name, k in _SYMPTOM_FIELDS.items()
                if raw.get(name) is not None
            }
            return SymptomEntry(at=at, **values)
        if kind == "lab":
            values = {name: _number(f"{path}{name}", raw[name]) for name in _LAB_FIELDS if raw.get(name) is not None}
            return LabEntry(at=at, **values)
        if kind == "dose":
            scheduled = raw.get("scheduled_for")
            return DoseEntry(
                at=at,
                status=_require(raw, "status", path),
                antiemetic_taken=raw.get("antiemetic_taken"),
                scheduled_for=_parse_date(f"{path}scheduled_for", scheduled) if scheduled else None,
            )
    except ClinicalValidationError as exc:
        raise InputError(f"{path}{exc.field}", exc.message) from None
    raise InputError(f"{path}type", f"must be one of weight, symptoms, lab, dose (got {kind!r})")


def _optional_instant(patient: dict, key: str):
    value = patient.get(key)
    return _parse_instant(f"patient.{key}", value) if value is not None else None


def _state_from_json(doc: object):
    if not isinstance(doc, dict):
        raise InputError("(document)", "must be a JSON object with now, patient and entries")
    now = _parse_instant("now", _require(doc, "now", ""))
    patient = _require(doc, "patient", "")
    if not isinstance(patient, dict):
        raise InputError("patient", "must be an object")
    p = "patient."
    setup = _build_setup(
        p,
        regimen=_require(patient, "regimen", p),
        level=_require(patient, "dose_level", p),
        status=patient.get("status", "active"),
        start=_require(patient, "start_date", p),
        weekdays=patient.get("dose_weekdays", ["mon", "wed"]),
        dose_time=_require(patient, "dose_time", p),
        tz=_require(patient, "timezone", p),
        antiemetic_offset=patient.get("antiemetic_offset_min", 30),
        tablet_mg=patient.get("tablet_strength_mg", TABLET_STRENGTH_MG_DEFAULT),
        # as stored plans made before the choice existed (migration default)
        dexamethasone_on_hold=patient.get("dexamethasone_on_hold", DexamethasoneOnHold.CONTINUE.value),
    )
    raw_entries = doc.get("entries", [])
    if not isinstance(raw_entries, list):
        raise InputError("entries", "must be a list")
    entries = tuple(_entry(i, raw) for i, raw in enumerate(raw_entries))
    baseline = _number(f"{p}baseline_weight_kg", _require(patient, "baseline_weight_kg", p))
    try:
        state = PatientState(
            setup=setup,
            baseline_weight_kg=baseline,
            usual_stools_per_day=patient.get("usual_stools_per_day", 1),
            entries=entries,
            hold_rule=patient.get("hold_rule"),
            last_delivered_at=_optional_instant(patient, "last_delivered_at"),
            sms_opted_out=_check_type(f"{p}sms_opted_out", "bool", patient.get("sms_opted_out", False)),
            enrolled_at=_optional_instant(patient, "enrolled_at"),
            held_at=_optional_instant(patient, "held_at"),
            plan_since=_optional_instant(patient, "plan_since"),
            unacknowledged_plan_change_at=_optional_instant(patient, "unacknowledged_plan_change_at"),
            next_affected_dose_at=_optional_instant(patient, "next_affected_dose_at"),
        )
    except ClinicalValidationError as exc:
        name = "baseline_weight_kg" if exc.field == "weight_kg" else exc.field
        raise InputError(f"{p}{name}", exc.message) from None
    return state, now


@click.command("evaluate")
@click.argument("state_file", type=click.File("r", encoding="utf-8"))
def evaluate_command(state_file):
    """Evaluate a patient state (JSON file, or - for stdin) and print the findings as JSON."""
    try:
        try:
            doc = json.load(state_file)
        except json.JSONDecodeError as exc:
            raise InputError("(document)", f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        state, now = _state_from_json(doc)
    except InputError as exc:
        _fail(exc)
        return
    findings = evaluate(state, now)
    out = {
        "findings": [
            {
                "rule": f.rule,
                "family": f.family,
                "tier": f.tier.value,
                "action": f.action.value,
                "resume_level": f.resume_level,
                "resume_dose": f.resume_dose,
                "facts": f.facts,
                "patient_advice": " ".join(render_advice(f.advice, "en")),
            }
            for f in findings
        ]
    }
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
