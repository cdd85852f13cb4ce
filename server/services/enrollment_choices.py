"""The enrollment form's choices, so nothing is typed free-hand: time zones grouped by region (the clinic's and the
common US and Spanish-speaking zones first, each with its current UTC offset), the start levels of each regimen in
mg and tablets of the chosen strength, the weight unit of the clinic's country, and phone numbers written for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

from ..clinical.regimens import REGIMENS

# Offered first, after the clinic's own zone: where this product's patients mostly live (US clinics, many patients
# speaking Spanish; Spain for a clinic there).
COMMON_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/Mexico_City",
    "America/Tijuana",
    "America/Guatemala",
    "America/El_Salvador",
    "America/Santo_Domingo",
    "America/Havana",
    "America/Bogota",
    "America/Lima",
    "America/Caracas",
    "America/Santiago",
    "America/Argentina/Buenos_Aires",
    "Europe/Madrid",
    "Atlantic/Canary",
)
COMMON_GROUP = "Clinic and common zones"
OTHER_GROUP = "Other (UTC and older names)"
REGIONS = ("America", "Pacific", "Atlantic", "Europe", "Africa", "Asia", "Australia", "Indian", "Antarctica", "Arctic")
# Countries whose people weigh themselves in pounds (the enrollment form's default unit there).
POUND_COUNTRIES = frozenset({"US"})


@dataclass(frozen=True)
class ZoneOption:
    name: str  # the IANA name, the value stored
    label: str  # "America/New_York (UTC−05:00)"


@dataclass(frozen=True)
class ZoneGroup:
    label: str
    zones: tuple[ZoneOption, ...]


def utc_offset_words(zone: str, now: datetime) -> str:
    """The zone's offset at `now`, e.g. 'UTC−05:00' (with a true minus sign) or 'UTC+01:00'."""
    offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "−" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_groups(all_zones: frozenset[str], clinic_zone: str, now: datetime) -> list[ZoneGroup]:
    """Every zone once: the clinic's and the common ones first, then the rest by region, then the others."""

    def option(name: str) -> ZoneOption:
        return ZoneOption(name, f"{name} ({utc_offset_words(name, now)})")

    first = [z for z in dict.fromkeys((clinic_zone, *COMMON_ZONES)) if z in all_zones]
    rest = sorted(all_zones - set(first))
    groups = [ZoneGroup(COMMON_GROUP, tuple(option(z) for z in first))]
    for region in REGIONS:
        names = [z for z in rest if z.startswith(region + "/")]
        if names:
            groups.append(ZoneGroup(region, tuple(option(z) for z in names)))
    regional = {z for g in groups for z in (o.name for o in g.zones)}
    others = [z for z in rest if z not in regional]
    if others:
        groups.append(ZoneGroup(OTHER_GROUP, tuple(option(z) for z in others)))
    return groups


def tablet_words(dose_mg: int, strength_mg: int) -> str:
    """'4 tablets of 20 mg' / '1 tablet of 50 mg', or why the dose cannot be given with this strength."""
    if dose_mg % strength_mg:
        return f"not whole {strength_mg} mg tablets"
    count = dose_mg // strength_mg
    return f"{count} tablet{'s' if count != 1 else ''} of {strength_mg} mg"


@dataclass(frozen=True)
class LevelOption:
    value: str  # "XVd:0": the regimen travels with the level, so a level of another regimen is refused
    regimen: str
    level: int
    dose_mg: int
    words: str  # "XVd level 0: 100 mg once weekly"
    label: str  # words and tablets of the chosen strength


def level_value(regimen: str, level: int) -> str:
    """The value a start-level option sends."""
    return f"{regimen}:{level}"


def level_options(strength_mg: int) -> dict[str, list[LevelOption]]:
    """Each regimen's levels, in mg and in tablets of `strength_mg` per dose day."""
    options: dict[str, list[LevelOption]] = {}
    for regimen_id, regimen in REGIMENS.items():
        rows = []
        for lv in regimen.levels:
            words = f"{regimen_id} level {lv.level}: {lv.describe()}"
            rows.append(
                LevelOption(
                    value=level_value(regimen_id, lv.level),
                    regimen=regimen_id,
                    level=lv.level,
                    dose_mg=lv.dose_mg,
                    words=words,
                    label=f"{words}, {tablet_words(lv.dose_mg, strength_mg)} each dose",
                )
            )
        options[regimen_id] = rows
    return options


def default_weight_unit(country: str) -> str:
    """lb where people weigh themselves in pounds (the US), kg elsewhere."""
    return "lb" if country.upper() in POUND_COUNTRIES else "kg"


def phone_example(country: str) -> str:
    """A mobile number as people of the country write it, for the form's hint ('(201) 555-0123')."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+1 202 555 0123"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)


def phone_words(e164: str | None, country: str | None = None) -> str:
    """A stored number written for people: national form ('(202) 555-0123') within `country`, else international
    ('+1 202-555-0123'); an unparseable one as stored."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    # A number outside any assigned range (the 555 demo numbers) belongs to its country code's main region.
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code
    )
    same_country = country is not None and region == country.upper()
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same_country else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)
