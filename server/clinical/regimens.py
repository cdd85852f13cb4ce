"""Selinexor regimens and their dose ladders, as data (clinical reference section 1).

A plan is (regimen, level, status). Level 0 is the starting dose; each reduction moves one row down the
ladder; reducing past the last level means "permanently discontinue". The product suggests these changes;
the care team decides them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from server.clinical.errors import ClinicalValidationError

# clinical-reference: section 1 ("Selinexor tablets are 20 mg ... store the strength per patient (default 20 mg)")
TABLET_STRENGTH_MG_DEFAULT = 20
# clinical-reference: section 1 ("20 mg is the usual strength; other strengths exist (the current label lists them)").
# The reference names no list: these are the strengths the care team may choose from at enrollment.
# NEEDS CLINICAL SIGN-OFF against the current US label before release.
TABLET_STRENGTHS_MG = (20, 40, 50, 60)


class PlanStatus(str, Enum):
    ACTIVE = "active"
    HELD = "held"
    DISCONTINUED = "discontinued"


class DexamethasoneOnHold(str, Enum):
    """What happens to dexamethasone while selinexor is held: the care team's explicit choice.

    clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs")
    """

    CONTINUE = "continue"  # keep taking it as prescribed on its usual days
    HOLD = "hold"  # do not take it until the care team says so


@dataclass(frozen=True)
class DoseLevel:
    """One rung of a dose ladder: the dose taken on each dose day and how often."""

    level: int
    dose_mg: int
    twice_weekly: bool  # True: Days 1 and 3 of each week; False: once weekly on Day 1

    @property
    def doses_per_week(self) -> int:
        return 2 if self.twice_weekly else 1

    @property
    def weekly_dose_mg(self) -> int:
        return self.dose_mg * self.doses_per_week

    @property
    def pattern(self) -> str:
        return "Days 1 and 3" if self.twice_weekly else "once weekly"

    def describe(self) -> str:
        """Plain words for this level, e.g. '80 mg on Days 1 and 3 (160 mg a week)' or '60 mg once weekly'."""
        if self.twice_weekly:
            return f"{self.dose_mg} mg on Days 1 and 3 ({self.weekly_dose_mg} mg a week)"
        return f"{self.dose_mg} mg once weekly"


@dataclass(frozen=True)
class Regimen:
    """A selinexor regimen: its ladder and its partner drugs (recorded, never dosed by the product)."""

    id: str
    name: str
    levels: tuple[DoseLevel, ...]
    dexamethasone: str  # plain-words description; "" when there is no dexamethasone
    dexamethasone_mg: int | None  # per dexamethasone day, None when there is none
    dexamethasone_days: str  # "with_each_dose", "days_1_and_2" or "none"
    bortezomib: str  # plain-words description; "" when there is no bortezomib

    @property
    def last_level(self) -> int:
        return self.levels[-1].level


def _ladder(*rungs: tuple[int, bool]) -> tuple[DoseLevel, ...]:
    return tuple(DoseLevel(level=i, dose_mg=mg, twice_weekly=tw) for i, (mg, tw) in enumerate(rungs))


TWICE, ONCE = True, False

REGIMENS: dict[str, Regimen] = {
    # clinical-reference: section 1, row Xd
    "Xd": Regimen(
        id="Xd",
        name="Selinexor with dexamethasone (relapsed/refractory multiple myeloma)",
        levels=_ladder((80, TWICE), (100, ONCE), (80, ONCE), (60, ONCE)),
        dexamethasone="dexamethasone 20 mg on each selinexor day",
        dexamethasone_mg=20,
        dexamethasone_days="with_each_dose",
        bortezomib="",
    ),
    # clinical-reference: section 1, row XVd
    "XVd": Regimen(
        id="XVd",
        name="Selinexor with bortezomib and dexamethasone (multiple myeloma)",
        levels=_ladder((100, ONCE), (80, ONCE), (60, ONCE), (40, ONCE)),
        dexamethasone="dexamethasone 20 mg on Days 1 and 2",
        dexamethasone_mg=20,
        dexamethasone_days="days_1_and_2",
        bortezomib="bortezomib 1.3 mg/m² SC on Day 1 weekly for 4 weeks, then 1 week off (35-day cycle)",
    ),
    # clinical-reference: section 1, row DLBCL
    "DLBCL": Regimen(
        id="DLBCL",
        name="Selinexor alone (relapsed/refractory diffuse large B-cell lymphoma)",
        levels=_ladder((60, TWICE), (40, TWICE), (60, ONCE), (40, ONCE)),
        dexamethasone="",
        dexamethasone_mg=None,
        dexamethasone_days="none",
        bortezomib="",
    ),
}


def tablets_for(dose_mg: int, strength_mg: int = TABLET_STRENGTH_MG_DEFAULT) -> int:
    """Number of whole tablets of `strength_mg` that make `dose_mg`.

    Tablets are never broken, chewed, crushed or divided (clinical-reference: section 1), so a dose that is not
    a whole number of tablets is refused rather than rounded.
    """
    if strength_mg <= 0:
        raise ClinicalValidationError("tablet_strength_mg", f"tablet_strength_mg must be positive (got {strength_mg})")
    if dose_mg <= 0 or dose_mg % strength_mg:
        raise ClinicalValidationError(
            "tablet_strength_mg",
            f"a {dose_mg} mg dose is not a whole number of {strength_mg} mg tablets (tablets are never divided)",
        )
    return dose_mg // strength_mg


def check_whole_tablets(regimen: str, level: int, strength_mg: int) -> None:
    """Refuse a level whose dose is not a whole number of `strength_mg` tablets, naming the level, dose and strength.

    clinical-reference: section 1 (tablets are never broken, chewed, crushed or divided)
    """
    dose = REGIMENS[regimen].levels[level]
    if isinstance(strength_mg, bool) or not isinstance(strength_mg, int) or strength_mg <= 0:
        raise ClinicalValidationError(
            "tablet_strength_mg", f"tablet_strength_mg must be positive (got {strength_mg!r})"
        )
    if dose.dose_mg % strength_mg:
        raise ClinicalValidationError(
            "tablet_strength_mg",
            f"{regimen} level {level} ({dose.describe()}) is a {dose.dose_mg} mg dose, which is not a whole number of "
            f"{strength_mg} mg tablets (tablets are never divided): choose another level or tablet strength.",
        )


@dataclass(frozen=True)
class Plan:
    """The patient's current selinexor plan.

    A discontinued plan keeps the level it was at (the last dose given); it produces no doses.
    """

    regimen: str
    level: int
    status: PlanStatus = PlanStatus.ACTIVE
    tablet_strength_mg: int = TABLET_STRENGTH_MG_DEFAULT
    # Read only while held; stored plans made before the choice existed keep dexamethasone (migration default).
    dexamethasone_on_hold: DexamethasoneOnHold = DexamethasoneOnHold.CONTINUE

    def __post_init__(self) -> None:
        if self.regimen not in REGIMENS:
            raise ClinicalValidationError(
                "regimen", f"regimen must be one of {', '.join(REGIMENS)} (got {self.regimen!r})"
            )
        last = REGIMENS[self.regimen].last_level
        if isinstance(self.level, bool) or not isinstance(self.level, int) or not 0 <= self.level <= last:
            raise ClinicalValidationError("level", f"level must be between 0 and {last} (got {self.level!r})")
        try:
            object.__setattr__(self, "status", PlanStatus(self.status))
        except ValueError:
            raise ClinicalValidationError(
                "status", f"status must be one of active, held, discontinued (got {self.status!r})"
            ) from None
        try:
            object.__setattr__(self, "dexamethasone_on_hold", DexamethasoneOnHold(self.dexamethasone_on_hold))
        except ValueError:
            raise ClinicalValidationError(
                "dexamethasone_on_hold",
                f"dexamethasone_on_hold must be continue or hold (got {self.dexamethasone_on_hold!r})",
            ) from None
        # The current dose must be whole tablets of this strength (a new strength comes with a new dose if needed).
        # clinical-reference: section 1 ("refuse a level whose dose is not a whole number of that patient's tablets")
        check_whole_tablets(self.regimen, self.level, self.tablet_strength_mg)

    @property
    def regimen_data(self) -> Regimen:
        return REGIMENS[self.regimen]

    @property
    def dose_level(self) -> DoseLevel:
        return REGIMENS[self.regimen].levels[self.level]

    @property
    def dose_mg(self) -> int:
        return self.dose_level.dose_mg

    @property
    def tablets(self) -> int:
        return tablets_for(self.dose_mg, self.tablet_strength_mg)

    @property
    def is_active(self) -> bool:
        return self.status is PlanStatus.ACTIVE


def _refuse_if_discontinued(plan: Plan, operation: str) -> None:
    # Conservative reading: "permanently discontinue" is final; restarting is a new plan made by the care team.
    if plan.status is PlanStatus.DISCONTINUED:
        raise ClinicalValidationError("status", f"cannot {operation} a discontinued plan; start a new plan instead")


def next_lower_level(plan: Plan) -> DoseLevel | None:
    """The next rung down the ladder, or None when the next step is "permanently discontinue"."""
    levels = REGIMENS[plan.regimen].levels
    return levels[plan.level + 1] if plan.level + 1 < len(levels) else None


def describe_resume(plan: Plan) -> tuple[int | None, str]:
    """The (level, plain-words dose) one level lower, or (None, "discontinue") at the end of the ladder."""
    lower = next_lower_level(plan)
    if lower is None:
        return None, "discontinue"
    return lower.level, lower.describe()


def _strength(plan: Plan, tablet_strength_mg: int | None) -> int:
    return plan.tablet_strength_mg if tablet_strength_mg is None else tablet_strength_mg


def reduce(plan: Plan, tablet_strength_mg: int | None = None) -> Plan:
    """One level lower, same status; past the last level the plan is permanently discontinued.

    `tablet_strength_mg` changes the tablet strength with the dose (when the new dose is not whole tablets of the old one,
    a ClinicalValidationError says so: tablets are never divided).
    """
    # clinical-reference: section 1 ("Next step: permanently discontinue"), R-LADDER
    _refuse_if_discontinued(plan, "reduce")
    lower = next_lower_level(plan)
    if lower is None:
        return replace(plan, status=PlanStatus.DISCONTINUED)
    return replace(plan, level=lower.level, tablet_strength_mg=_strength(plan, tablet_strength_mg))


def hold(plan: Plan, dexamethasone: DexamethasoneOnHold | str | None = None) -> Plan:
    """Hold (interrupt) selinexor at the current level; with dexamethasone, the care team says what happens to it.

    clinical-reference: section 1 ("A selinexor hold never silently stops the partner drugs"): for a regimen with
    dexamethasone the choice (continue as prescribed / hold too) is required, never assumed.
    """
    _refuse_if_discontinued(plan, "hold")
    if plan.regimen_data.dexamethasone_days == "none":
        return replace(plan, status=PlanStatus.HELD, dexamethasone_on_hold=DexamethasoneOnHold.CONTINUE)
    if dexamethasone is None or str(getattr(dexamethasone, "value", dexamethasone)) not in (
        DexamethasoneOnHold.CONTINUE.value,
        DexamethasoneOnHold.HOLD.value,
    ):
        raise ClinicalValidationError(
            "dexamethasone_on_hold",
            "Choose what happens to dexamethasone while selinexor is on hold: continue as prescribed, or hold it too.",
        )
    return replace(plan, status=PlanStatus.HELD, dexamethasone_on_hold=DexamethasoneOnHold(dexamethasone))


def resume(plan: Plan, level: int | None = None, tablet_strength_mg: int | None = None) -> Plan:
    """Resume at `level` (the care team's choice); with no level, one level lower as the label says after an interrupt.

    The label's interrupt actions all read "hold until recovery, then resume one level lower", so the default is
    the conservative one: one level lower, and "permanently discontinue" when there is no lower level.
    """
    _refuse_if_discontinued(plan, "resume")
    if level is None:
        lower = next_lower_level(plan)
        if lower is None:
            return replace(plan, status=PlanStatus.DISCONTINUED)
        level = lower.level
    # __post_init__ validates the level and the tablets
    return replace(plan, level=level, status=PlanStatus.ACTIVE, tablet_strength_mg=_strength(plan, tablet_strength_mg))


def discontinue(plan: Plan) -> Plan:
    """Permanently discontinue selinexor (idempotent)."""
    return replace(plan, status=PlanStatus.DISCONTINUED)
