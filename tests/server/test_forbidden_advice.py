"""No message of any language or channel gives advice the reference forbids (clinical-reference P-MISSED, P-VOMITED,
section 1 partner drugs): making up a missed dose, an extra or second dose, repeating a vomited dose, "take it now" for a
past dose, or stopping dexamethasone (or any partner drug) on one's own.

Every word a patient reads is a catalog entry (server/i18n.py), so the scan reads every msgid (English) and every
translation of every catalog, then renders each channel (pages' advice, SMS replies, reminders and push bodies) to
catch what the rendering adds. A forbidden phrase is allowed only when the same clause negates it before it ("Do not
repeat a dose you vomited", "No la recupere").
"""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po

from notifications.messages import TEMPLATES, render_reminder
from server.clinical import advice as adv
from server.i18n import LANGUAGES, SMS_ADVICE, TRANSLATIONS_DIR, render_advice, translate_in
from server.services.outbox.recipients import Recipient
from server.services.sms_inbound import REPLIES

FORBIDDEN: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "en": [
        (
            "make up a missed dose",
            re.compile(r"\bmake (it|them|the (missed )?dose|up)\b|\bmake-?up dose\b|\bcatch up\b"),
        ),
        (
            "an extra or second dose",
            re.compile(
                r"\b(extra|additional|another|second|double) (dose|tablet)s?\b"
                r"|\bdouble (the|your) dose\b|\btake (two|2) doses\b"
            ),
        ),
        (
            "repeat a vomited dose",
            re.compile(r"\brepeat (the|a|your|that) dose\b|\brepeat it\b|\btake (it|the dose) again\b"),
        ),
        (
            "take it now after the dose day",
            re.compile(
                r"\btake (it|the missed dose|your missed dose) (now|today|as soon)"
                r"|\bas soon as you remember\b|\btake the missed dose\b"
            ),
        ),
        (
            "stop a partner drug on one's own",
            re.compile(
                r"\b(stop|skip|quit) (taking )?(your |the )?(dexamethasone|steroid"
                r"|bortezomib|other medicine)"
            ),
        ),
    ],
    "es": [
        (
            "recuperar una dosis olvidada",
            re.compile(
                r"\b(recuper|repong|compens)\w* (la|una|esa|su|las) dosis\b"
                r"|\brecupér\w+|\bla (recupere|reponga|compense)\b"
            ),
        ),
        (
            "una dosis extra o segunda",
            re.compile(
                r"\b(dosis|comprimidos?) (extra|adicional(es)?|de más)\b|\botra dosis\b"
                r"|\bsegunda dosis\b|\bdoble dosis\b|\bduplique\b|\bdos dosis\b"
            ),
        ),
        ("repetir una dosis vomitada", re.compile(r"\brepit\w*|\brepetir\b|\bvuelva a tomar\w*")),
        (
            "tómela ahora tras el día",
            re.compile(
                r"\btóme(la|lo) (ahora|hoy|en cuanto)|\ben cuanto se acuerde\b"
                r"|\btome la dosis olvidada\b"
            ),
        ),
        (
            "dejar un medicamento asociado por su cuenta",
            re.compile(
                r"\b(deje de tomar|suspenda|pare|omita) (la |su |sus |el )?"
                r"(dexametasona|corticoide|bortezomib)"
            ),
        ),
    ],
}
NEGATION = {"en": re.compile(r"\b(do not|don't|never|no|not)\b", re.I), "es": re.compile(r"\b(no|nunca|ni)\b", re.I)}
CLAUSE = re.compile(r"[.;:!?]|\s—\s")


def forbidden(text: str, lang: str) -> list[str]:
    """The forbidden meanings a text carries (a clause negated before the phrase is correct advice)."""
    found = []
    for clause in CLAUSE.split(text):
        for meaning, pattern in FORBIDDEN[lang]:
            for match in pattern.finditer(clause.lower()):
                if not NEGATION[lang].search(clause[: match.start()]):
                    found.append(f"{meaning}: {clause.strip()!r}")
    return found


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Take it now.", "en"),
        ("Take an extra dose.", "en"),
        ("Make up the missed dose tomorrow.", "en"),
        ("Repeat the dose if you vomited.", "en"),
        ("Take another dose.", "en"),
        ("Take the missed dose as soon as you remember.", "en"),
        ("If you feel sick, stop your dexamethasone.", "en"),
        ("Stop taking the steroid tablets.", "en"),
        ("Tómela ahora.", "es"),
        ("Tome una dosis extra.", "es"),
        ("Recupere la dosis mañana.", "es"),
        ("Repita la dosis si vomitó.", "es"),
        ("Tome otra dosis.", "es"),
        ("Deje de tomar la dexametasona.", "es"),
        ("Suspenda su corticoide.", "es"),
    ],
)
def test_the_scan_catches_each_forbidden_meaning(text, lang):
    assert forbidden(text, lang)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Do not repeat a dose you vomited.", "en"),
        ("Skip the missed dose.", "en"),
        ("Never take an extra dose.", "en"),
        ("Recorded as missed. Do not make it up: take your next dose at its usual day and time.", "en"),
        ("Your dose is at 8:00 AM. Take your anti-nausea medicine now.", "en"),
        ("Do not take your next selinexor dose until your care team tells you to.", "en"),
        ("No repita una dosis que vomitó.", "es"),
        ("No tome la dosis olvidada. No la reponga.", "es"),
        ("Registrada como olvidada. No la recupere: tome la siguiente dosis el día y la hora de siempre.", "es"),
    ],
)
def test_the_scan_allows_the_correct_negative_advice(text, lang):
    assert forbidden(text, lang) == []


def _catalog_texts() -> list[tuple[str, str]]:
    """(language, text) for every msgid (English) and every translation of every catalog."""
    texts: list[tuple[str, str]] = []
    for lang in LANGUAGES:
        po = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            texts += [("en", i) for i in ids] + [(lang, s) for s in strings if s]
    return texts


def test_no_catalog_entry_of_any_language_gives_forbidden_advice():
    texts = _catalog_texts()
    assert len(texts) > 600  # the pages, SMS, push, reminder and advice entries of every language
    problems = [(lang, text, hit) for lang, text in texts for hit in forbidden(text, lang)]
    assert problems == []


NEXT = datetime(2026, 3, 4, 8, 0, tzinfo=ZoneInfo("America/New_York"))
CONTACTS = [
    adv.CareTeamContact(True, None, "+15555550100", "+15555550199", "911"),
    adv.CareTeamContact(False, NEXT.date(), "+15555550100", "+15555550199", "911"),
]


def _every_advice() -> list[adv.Advice]:
    items: list[adv.Advice] = []
    for status in ("taken", "missed", "vomited"):
        for next_local, held in ((NEXT, False), (None, True), (None, False)):
            items += adv.dose_advice(status, next_local, held)
    for tier in ("urgent", "same_day", "routine", "self_care"):
        for holds in (False, True):
            for contact in CONTACTS:
                items += adv.tier_advice(tier, holds, contact)
    items += [adv.advice(adv.NOT_EVERY_DAY, next_dose=NEXT), adv.advice(adv.ANTIEMETIC_BEFORE, minutes=30)]
    items += [
        adv.advice(value)
        for name, value in vars(adv).items()
        if name.isupper() and isinstance(value, str) and "%(" not in value
    ]
    return items


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("channel", ["page", "sms"])
def test_no_rendered_advice_gives_forbidden_advice(lang, channel):
    for drug_names in (False, True):
        texts = render_advice(_every_advice(), lang, channel, drug_names)
        assert len(texts) > 25
        assert [(t, forbidden(t, lang)) for t in texts if forbidden(t, lang)] == []


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_no_sms_reply_gives_forbidden_advice(lang):
    values = {
        "clinic": "Clinic",
        "phone": "+15555550100",
        "next": "Wednesday",
        "value": "70 kg",
        "previous": "72 kg",
        "message": "too low",
    }
    texts = [translate_in(lang, "sms", message, **values) for message in REPLIES.values()]
    texts += [translate_in(lang, "sms", message, next_dose="Wednesday") for message in SMS_ADVICE.values()]
    assert [(t, forbidden(t, lang)) for t in texts if forbidden(t, lang)] == []


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("channel", ["sms", "push"])
def test_no_reminder_or_push_body_gives_forbidden_advice(lang, channel):
    kinds = {name.removesuffix("_named").removesuffix("_push") for name in TEMPLATES} - {
        "dose_extra",
        "sms_reply_taken",
        "push_log",
    }
    payload = {
        "dose_local": datetime.combine(NEXT.date(), time(8)).isoformat(),
        "dose_mg": 80,
        "tablets": 4,
        "strength_mg": 20,
        "dexamethasone_mg": 20,
        "antiemetic": "ondansetron 8 mg",
        "unit": "kg",
    }
    for drug_names in (False, True):
        recipient = Recipient(
            patient_id=1,
            language=lang,
            phone="+15555550123",
            sms_consent=True,
            sms_opted_out=False,
            channel_preference=channel,
            drug_names=drug_names,
            weight_unit="kg",
            push_targets=(),
            clinic_name="Clinic",
            clinic_phone="+15555550100",
        )
        for kind in sorted(kinds):
            text = render_reminder(kind, payload, recipient, channel, "https://c.example").text
            assert forbidden(text, lang) == [], (kind, text)


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
@pytest.mark.parametrize("channel", ["sms", "push"])
def test_no_wait_reminder_or_plan_change_notice_gives_forbidden_advice(lang, channel):
    from notifications.messages import PLAN_NOTICE

    before = {
        "status": "active",
        "dose_mg": 80,
        "tablets": 4,
        "twice_weekly": True,
        "day1_weekday": 0,
        "day3_weekday": 2,
        "dose_time": "08:00",
        "has_dexamethasone": True,
    }
    afters = [
        dict(before, dose_mg=100, tablets=5, twice_weekly=False),
        dict(before, status="held"),
        dict(before, status="held", dexamethasone_during_hold="continue"),
        dict(before, status="held", dexamethasone_during_hold="hold"),
        dict(before, status="discontinued"),
        dict(before, dose_time="20:00"),
    ]
    payload = {"dose_local": datetime.combine(NEXT.date(), time(8)).isoformat(), "dose_mg": 80, "tablets": 4}
    for drug_names in (False, True):
        recipient = Recipient(
            patient_id=1,
            language=lang,
            phone="+15555550123",
            sms_consent=True,
            sms_opted_out=False,
            channel_preference=channel,
            drug_names=drug_names,
            weight_unit="kg",
            push_targets=(),
            clinic_name="Clinic",
            clinic_phone="+15555550100",
            awaiting_team=True,
        )
        texts = [render_reminder("dose", payload, recipient, channel, "https://c.example").text]
        texts += [
            render_reminder(
                PLAN_NOTICE, {"before": before, "after": after}, recipient, channel, "https://c.example"
            ).text
            for after in afters
        ]
        texts += [
            render_reminder(
                PLAN_NOTICE,
                {"before": dict(before, status="held"), "after": before},
                recipient,
                channel,
                "https://c.example",
            ).text
        ]
        for text in texts:
            assert forbidden(text, lang) == [], text
            assert drug_names or "selinexor" not in text.lower(), text  # no drug name unless opted in
