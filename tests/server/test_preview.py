"""The `companion schedule` and `companion evaluate` preview commands, through click's CliRunner."""

import json

import pytest
from click.testing import CliRunner

from server import preview
from server.preview import evaluate_command, schedule_command

SCHEDULE_ARGS = [
    "--regimen",
    "Xd",
    "--level",
    "0",
    "--start",
    "2026-03-02",
    "--weekdays",
    "mon,wed",
    "--time",
    "08:00",
    "--tz",
    "America/New_York",
    "--days",
    "14",
]


def invoke(command, args, stdin=None):
    return CliRunner().invoke(command, args, input=stdin)


def test_only_the_two_commands_are_exported():
    assert set(preview.__all__) == {"schedule_command", "evaluate_command"}
    assert schedule_command.name == "schedule" and evaluate_command.name == "evaluate"


def test_schedule_prints_the_events_as_json():
    result = invoke(schedule_command, SCHEDULE_ARGS)
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    doses = [e for e in events if e["kind"] == "selinexor_dose"]
    assert [d["local"] for d in doses] == [
        "2026-03-02T08:00:00-05:00",
        "2026-03-04T08:00:00-05:00",
        "2026-03-09T08:00:00-04:00",
        "2026-03-11T08:00:00-04:00",
    ]
    assert doses[0]["utc"] == "2026-03-02T13:00:00Z"
    assert {(d["dose_mg"], d["tablets"]) for d in doses} == {(80, 4)}
    assert all({"kind", "local", "utc", "dose_mg", "tablets"} <= set(e) for e in events)
    assert {e["kind"] for e in events} == {
        "selinexor_dose",
        "antiemetic",
        "dexamethasone",
        "weight_prompt",
        "blood_test",
    }


def test_schedule_of_a_held_plan_has_no_doses():
    result = invoke(schedule_command, SCHEDULE_ARGS + ["--status", "held", "--dexamethasone-on-hold", "hold"])
    kinds = {e["kind"] for e in json.loads(result.stdout)}
    assert not kinds & {"selinexor_dose", "antiemetic", "dexamethasone"}


def test_schedule_of_a_held_plan_keeps_dexamethasone_when_staff_chose_continue():
    # clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs")
    result = invoke(schedule_command, SCHEDULE_ARGS + ["--status", "held", "--dexamethasone-on-hold", "continue"])
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)
    assert not {e["kind"] for e in events} & {"selinexor_dose", "antiemetic"}
    dexa = [(e["local"], e["dose_mg"]) for e in events if e["kind"] == "dexamethasone"]
    assert dexa == [
        ("2026-03-02T08:00:00-05:00", 20),
        ("2026-03-04T08:00:00-05:00", 20),
        ("2026-03-09T08:00:00-04:00", 20),
        ("2026-03-11T08:00:00-04:00", 20),
    ]


def test_schedule_of_a_held_plan_with_dexamethasone_needs_the_choice():
    result = invoke(schedule_command, SCHEDULE_ARGS + ["--status", "held"])
    assert result.exit_code == 2
    assert "--dexamethasone-on-hold" in result.stderr and "continue or hold" in result.stderr
    dlbcl = [a if a != "Xd" else "DLBCL" for a in SCHEDULE_ARGS]
    assert invoke(schedule_command, dlbcl + ["--status", "held"]).exit_code == 0  # no dexamethasone to decide


def test_schedule_options_for_offset_and_tablet_strength():
    args = [
        "--regimen",
        "XVd",
        "--level",
        "0",
        "--start",
        "2026-03-02",
        "--weekdays",
        "mon",
        "--time",
        "08:00",
        "--tz",
        "Europe/Berlin",
        "--days",
        "7",
        "--antiemetic-offset",
        "45",
        "--tablet-mg",
        "50",
    ]
    events = json.loads(invoke(schedule_command, args).stdout)
    dose = next(e for e in events if e["kind"] == "selinexor_dose")
    antiemetic = next(e for e in events if e["kind"] == "antiemetic")
    assert (dose["dose_mg"], dose["tablets"]) == (100, 2)
    assert antiemetic["local"] == "2026-03-02T07:15:00+01:00"
    assert any(e["kind"] == "bortezomib_clinic" for e in events)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--weekdays", "mon,thu"], "--weekdays"),
        (["--tz", "Mars/Base"], "--tz"),
        (["--level", "7"], "--level"),
        (["--start", "2026-13-01"], "--start"),
        (["--time", "8am"], "--time"),
    ],
)
def test_schedule_bad_input_exits_2_with_one_line_naming_the_option(args, needle):
    argv = list(SCHEDULE_ARGS)
    for i in range(0, len(args), 2):
        argv[argv.index(args[i]) + 1] = args[i + 1]
    result = invoke(schedule_command, argv)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {needle}")
    assert len(result.stderr.strip().splitlines()) == 1


def state(**overrides):
    doc = {
        "now": "2026-03-12T16:00:00Z",
        "patient": {
            "regimen": "Xd",
            "dose_level": 0,
            "status": "active",
            "baseline_weight_kg": 70.0,
            "usual_stools_per_day": 1,
            "timezone": "America/New_York",
            "dose_weekdays": ["mon", "wed"],
            "dose_time": "08:00",
            "start_date": "2026-03-02",
            "last_delivered_at": "2026-03-12T10:00:00Z",
        },
        "entries": [
            {"type": "dose", "at": "2026-03-09T12:00:00Z", "status": "taken", "antiemetic_taken": True},
            {"type": "dose", "at": "2026-03-11T12:00:00Z", "status": "taken", "antiemetic_taken": True},
            {"type": "weight", "at": "2026-03-12T14:00:00Z", "kg": 62.1},
            {
                "type": "symptoms",
                "at": "2026-03-12T14:00:00Z",
                "nausea": 1,
                "vomiting_episodes": 0,
                "loose_stools": 1,
                "appetite": 1,
                "fatigue": 1,
                "temperature_c": 38.3,
                "chills": False,
                "bleeding": "none",
                "neuro": "none",
                "vision_change": False,
            },
            {
                "type": "lab",
                "at": "2026-03-12T15:00:00Z",
                "sodium_mmol_l": 136,
                "platelets_10e9_l": 150,
                "anc_10e9_l": 2.0,
                "hemoglobin_g_dl": 11.0,
            },
        ],
    }
    for key, value in overrides.items():
        target, _, name = key.rpartition(".")
        (doc[target] if target else doc)[name] = value
    return doc


def test_evaluate_reads_a_file_and_prints_findings(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state()))
    result = invoke(evaluate_command, [str(path)])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [f["rule"] for f in findings] == ["R-FEVER", "R-WT-10", "R-NV-12"]
    wt = findings[1]
    assert set(wt) == {"rule", "family", "tier", "action", "resume_level", "resume_dose", "facts", "patient_advice"}
    assert (wt["tier"], wt["action"], wt["resume_level"], wt["resume_dose"]) == (
        "same_day",
        "interrupt",
        1,
        "100 mg once weekly",
    )
    assert "62.1 kg is 11.3% below the baseline of 70.0 kg" in wt["facts"]


def test_evaluate_reads_stdin():
    result = invoke(evaluate_command, ["-"], stdin=json.dumps(state()))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["findings"][0]["tier"] == "urgent"


def test_evaluate_with_no_entries_on_a_fresh_patient_has_no_findings():
    doc = state(entries=[], now="2026-03-02T10:00:00Z")
    result = invoke(evaluate_command, ["-"], stdin=json.dumps(doc))
    assert json.loads(result.stdout) == {"findings": []}


def test_evaluate_accepts_hold_rule_for_resume():
    doc = state(**{"patient.status": "held", "patient.hold_rule": "R-WT-10"})
    doc["entries"][2]["kg"] = 69.0
    findings = json.loads(invoke(evaluate_command, ["-"], stdin=json.dumps(doc)).stdout)["findings"]
    assert "R-RESUME" in [f["rule"] for f in findings]


def _with_entry(i, **changes):
    doc = state()
    doc["entries"][i].update(changes)
    return doc


@pytest.mark.parametrize(
    "doc,message",
    [
        (_with_entry(2, kg=400), "error: entries[2].kg: weight_kg must be between 25 and 300 (got 400)"),
        (
            _with_entry(3, temperature_c=45),
            "error: entries[3].temperature_c: temperature_c must be between 34 and 43 (got 45)",
        ),
        (_with_entry(3, nausea=5), "error: entries[3].nausea:"),
        (_with_entry(3, bleeding="lots"), "error: entries[3].bleeding:"),
        (_with_entry(4, sodium_mmol_l=90), "error: entries[4].sodium_mmol_l:"),
        (_with_entry(0, status="twice"), "error: entries[0].status:"),
        (_with_entry(1, type="mood"), "error: entries[1].type:"),
        (_with_entry(1, at="yesterday"), "error: entries[1].at:"),
        (_with_entry(2, kg="heavy"), "error: entries[2].kg:"),
        (state(**{"patient.regimen": "XYZ"}), "error: patient.regimen:"),
        (state(**{"patient.dose_level": 9}), "error: patient.dose_level:"),
        (state(**{"patient.dose_weekdays": ["mon", "tue"]}), "error: patient.dose_weekdays:"),
        (state(**{"patient.timezone": "Nowhere/Town"}), "error: patient.timezone:"),
        (state(**{"patient.baseline_weight_kg": 10}), "error: patient.baseline_weight_kg:"),
        (state(now="2026-03-12T16:00:00"), "error: now:"),
    ],
)
def test_evaluate_bad_input_exits_2_with_one_line_naming_the_field(doc, message):
    result = invoke(evaluate_command, ["-"], stdin=json.dumps(doc))
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_evaluate_missing_field_is_named():
    doc = state()
    del doc["patient"]["start_date"]
    result = invoke(evaluate_command, ["-"], stdin=json.dumps(doc))
    assert (result.exit_code, result.stderr.strip()) == (2, "error: patient.start_date: is required")


def test_evaluate_invalid_json():
    result = invoke(evaluate_command, ["-"], stdin="{not json")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: (document): not valid JSON")


def test_evaluate_shows_febrile_neutropenia_after_a_fever_brought_down():
    # issue 10 item 1, as reproduced through `companion evaluate`: 38.6 °C, then 37.2 °C 4 h later, then ANC 0.8
    doc = state(
        entries=[
            {"type": "symptoms", "at": "2026-03-12T06:00:00Z", "temperature_c": 38.6},
            {"type": "symptoms", "at": "2026-03-12T10:00:00Z", "temperature_c": 37.2},
            {"type": "lab", "at": "2026-03-12T12:00:00Z", "anc_10e9_l": 0.8},
        ]
    )
    findings = json.loads(invoke(evaluate_command, ["-"], stdin=json.dumps(doc)).stdout)["findings"]
    rules = [f["rule"] for f in findings]
    assert "R-ANC-05" in rules and "R-ANC-1" not in rules and "R-FEVER" in rules
    assert all("no fever reported" not in f["facts"] for f in findings)


def test_evaluate_accepts_the_plan_unseen_inputs():
    doc = state(
        **{
            "patient.unacknowledged_plan_change_at": "2026-03-10T15:00:00Z",
            "patient.next_affected_dose_at": "2026-03-13T02:00:00Z",
        }
    )
    findings = json.loads(invoke(evaluate_command, ["-"], stdin=json.dumps(doc)).stdout)["findings"]
    assert [f["tier"] for f in findings if f["rule"] == "R-PLAN-UNSEEN"] == ["same_day"]
