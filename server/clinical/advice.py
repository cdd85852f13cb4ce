"""What the patient is told, as message ids with parameters (clinical reference sections 2 and 3).

The clinical core never writes prose for a patient: it returns `Advice(id, params)` items whose `id` is the English
msgid of the Babel catalog (web/translations), and server/i18n.py renders them in the patient's language and channel.
Standard library only (no Babel here): `N_` below only marks msgids for `pybabel extract -k N_`.

Parameters are plain values: `str`, `int`, a `date` (rendered as a weekday name) or an aware `datetime` (rendered as
the day and time in the page style, "Wednesday, March 4 at 8:00 AM").

Never: "take it now" for a past dose, an extra or make-up dose, repeating a vomited dose, or stopping a partner drug
on one's own (tests/server/test_forbidden_advice.py scans every catalog entry of every language and channel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from server.clinical.grading import check_choice


def N_(message: str) -> str:
    """Marks a msgid for the catalog; the text is translated at display time."""
    return message


@dataclass(frozen=True)
class Advice:
    """One sentence of advice: a catalog msgid and the values of its `%(name)s` placeholders."""

    id: str
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        return hash((self.id, tuple(sorted((k, repr(v)) for k, v in self.params.items()))))


def advice(message_id: str, **params: object) -> Advice:
    """An advice item with read-only parameters."""
    return Advice(message_id, MappingProxyType(dict(params)))


@dataclass(frozen=True)
class CareTeamContact:
    """Facts about reaching the care team at the moment of the advice, computed by the service (settings, clock).

    clinic_open_now: inside CLINIC_HOURS on CLINIC_DAYS, so a same-day finding is paged today.
    next_call_day: when closed, the business day on which the clinic will call (next business morning).
    """

    clinic_open_now: bool = True
    next_call_day: date | None = None
    clinic_phone: str = ""
    after_hours_phone: str = ""
    emergency_number: str = "911"


# --------------------------------------------------------------------------------------------------------------------
# Tier words (section 3)
# --------------------------------------------------------------------------------------------------------------------

CALL_NOW = N_("Call your care team now: %(phone)s.")  # clinical-reference: section 3 (urgent)
# clinical-reference: section 3 "Say only what will happen" (every urgent result carries the emergency fallback)
EMERGENCY_FALLBACK = N_("If you cannot reach them right away, call %(emergency_number)s.")
CONTACT_TODAY = N_("Your care team will contact you today.")  # clinical-reference: section 3 (same_day, clinic open)
# clinical-reference: section 3 "Say only what will happen" (same_day outside clinic hours or days)
CLINIC_CLOSED = N_("The clinic is closed now.")
NURSE_WILL_CALL = N_("A nurse will call you on %(day)s morning.")
AFTER_HOURS = N_("If you need advice before then, call the after-hours line: %(phone)s.")
FEEL_WORSE = N_("If you feel worse, call %(emergency_number)s.")
# clinical-reference: section 3 (interrupt: do not take the next dose until the care team has been in touch)
HOLD_UNTIL_CONTACT = N_("Do not take your next selinexor dose until they do.")
HOLD_UNTIL_TOLD = N_("Do not take your next selinexor dose until your care team tells you to.")
TEAM_WILL_REVIEW = N_("Your team will review.")  # clinical-reference: section 3 (routine)
# clinical-reference: section 3 ("The patient's screens never contradict the advice": the wait state on Today)
WAIT_FOR_TEAM = N_("Wait for your care team before your next selinexor dose.")
NOBODY_CALLED = N_("If nobody has called you, call the clinic: %(phone)s.")

# The tier words: SMS replies carry these and nothing else of the advice (no diagnosis over SMS).
TIER_IDS = frozenset(
    {
        CALL_NOW,
        EMERGENCY_FALLBACK,
        CONTACT_TODAY,
        CLINIC_CLOSED,
        NURSE_WILL_CALL,
        AFTER_HOURS,
        FEEL_WORSE,
        HOLD_UNTIL_CONTACT,
        HOLD_UNTIL_TOLD,
        TEAM_WILL_REVIEW,
    }
)

# --------------------------------------------------------------------------------------------------------------------
# Dose advice (section 2)
# --------------------------------------------------------------------------------------------------------------------

DOSE_RECORDED = N_("Dose recorded.")
SAME_TIME_WHOLE = N_("Take each dose at the same time of day, tablets whole with water.")  # clinical-reference: P-TAKE
NEXT_DOSE_AT = N_("Your next dose is at your next scheduled day and time (%(next_dose)s).")
SKIP_MISSED = N_("Skip the missed dose.")  # clinical-reference: P-MISSED
TAKE_NEXT_AT = N_(
    "Take your next dose at your next scheduled day and time (%(next_dose)s)."
)  # clinical-reference: P-MISSED
DO_NOT_REPEAT_VOMITED = N_("Do not repeat a dose you vomited.")  # clinical-reference: P-VOMITED
# clinical-reference: section 1 (holds are decisions of the care team); issue 10 item 12 wording
ON_HOLD = N_("Selinexor is on hold: do not take it until your care team tells you to.")
DISCONTINUED = N_("Your care team has stopped selinexor. Do not take any more selinexor tablets.")
# clinical-reference: R-WRONG-DAY (the result of a dose logged on a day that is not a dose day leads with this)
WRONG_DAY_LEAD = N_("Do not take any more selinexor today. Next dose: %(next_dose)s.")
NOT_EVERY_DAY = N_(
    "Selinexor is not taken every day; your next dose is %(next_dose)s."
)  # clinical-reference: R-WRONG-DAY

# --------------------------------------------------------------------------------------------------------------------
# Self-care advice per rule (section 4)
# --------------------------------------------------------------------------------------------------------------------

FLUIDS = N_("Keep up fluids and calories.")  # clinical-reference: P-FLUIDS
ANTIEMETICS_AS_PRESCRIBED = N_("Take your anti-nausea medicines as your care team prescribed; they may add another.")
LOPERAMIDE = N_("Take loperamide for diarrhea as your care team advised, and keep up fluids.")
KEEP_UP_FLUIDS = N_("Keep up fluids.")
NUTRITION = N_("Your team may suggest nutrition supplements or a dietitian.")
FEVER_SIGN = N_("A temperature of 38.0 °C (100.4 °F) or more, or chills, can be a sign of infection.")
EYE_EXAM = N_("Your team may arrange an eye exam.")
PLEASE_WEIGH = N_("Please weigh yourself and record your weight.")  # clinical-reference: R-NO-WT
RESTART_TOLD = N_("Your care team will tell you when and how to restart.")  # clinical-reference: R-RESUME
NO_RESTART_YET = N_("Do not restart until they do.")
# clinical-reference: P-ANTIEMETIC, R-NO-AE
ANTIEMETIC_BEFORE = N_(
    "Take your anti-nausea medicine about %(minutes)s minutes before each selinexor dose, as your care team prescribed."
)


def next_dose_advice(next_dose_local: datetime | None, held: bool, *, missed: bool = False) -> Advice:
    """Where the next dose is: its day and time, or the hold / discontinue sentence when there is none."""
    if next_dose_local is not None:
        return advice(TAKE_NEXT_AT if missed else NEXT_DOSE_AT, next_dose=next_dose_local)
    return advice(ON_HOLD) if held else advice(DISCONTINUED)


def dose_advice(status: str, next_dose_local: datetime | None, held: bool = False) -> tuple[Advice, ...]:
    """What the patient is told after logging a dose as taken, missed or vomited (P-TAKE, P-MISSED, P-VOMITED).

    A missed or vomited dose is never made up or repeated: the next dose is on the next scheduled day and time.
    """
    check_choice("status", status, ("taken", "missed", "vomited"))
    if status == "missed":
        # clinical-reference: P-MISSED
        return advice(SKIP_MISSED), next_dose_advice(next_dose_local, held, missed=True)
    if status == "vomited":
        # clinical-reference: P-VOMITED
        return advice(DO_NOT_REPEAT_VOMITED), next_dose_advice(next_dose_local, held, missed=True)
    if held:
        # clinical-reference: section 1 (a held patient who logs a dose is told not to take it)
        return (advice(ON_HOLD),)
    # clinical-reference: P-TAKE
    return advice(DOSE_RECORDED), advice(SAME_TIME_WHOLE), next_dose_advice(next_dose_local, held)


def tier_advice(tier: str | None, holds: bool, contact: CareTeamContact) -> tuple[Advice, ...]:
    """The tier words of section 3 for the worst tier of an entry, honest about when the clinic will call.

    `holds`: a finding at that tier interrupts or discontinues, so the next dose waits for the care team.
    """
    if tier == "urgent":
        # clinical-reference: section 3 (urgent: call now, with the emergency-number fallback)
        items = [
            advice(CALL_NOW, phone=contact.clinic_phone),
            advice(EMERGENCY_FALLBACK, emergency_number=contact.emergency_number),
        ]
        if holds:
            items.append(advice(HOLD_UNTIL_TOLD))
        return tuple(items)
    if tier == "same_day":
        if contact.clinic_open_now or contact.next_call_day is None:
            items = [advice(CONTACT_TODAY)]
        else:
            # clinical-reference: section 3 "Say only what will happen" (not paged until the next business morning)
            items = [advice(CLINIC_CLOSED), advice(NURSE_WILL_CALL, day=contact.next_call_day)]
        if holds:
            items.append(advice(HOLD_UNTIL_CONTACT))
        if not (contact.clinic_open_now or contact.next_call_day is None):
            items += [
                advice(AFTER_HOURS, phone=contact.after_hours_phone or contact.clinic_phone),
                advice(FEEL_WORSE, emergency_number=contact.emergency_number),
            ]
        return tuple(items)
    if tier == "routine":
        return (advice(TEAM_WILL_REVIEW),)
    return ()


def wait_for_team_advice(contact: CareTeamContact) -> tuple[Advice, ...]:
    """While the next dose waits for the care team: what to do if nobody calls, honest about clinic hours."""
    # clinical-reference: section 3 "Say only what will happen" (outside hours: the next business morning)
    if contact.clinic_open_now or contact.next_call_day is None:
        items = [advice(NOBODY_CALLED, phone=contact.clinic_phone)]
    else:
        items = [
            advice(CLINIC_CLOSED),
            advice(NURSE_WILL_CALL, day=contact.next_call_day),
            advice(AFTER_HOURS, phone=contact.after_hours_phone or contact.clinic_phone),
        ]
    return (*items, advice(FEEL_WORSE, emergency_number=contact.emergency_number))


def unique(items: Iterable[Advice]) -> tuple[Advice, ...]:
    """The items in order, each once."""
    seen: list[Advice] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return tuple(seen)
