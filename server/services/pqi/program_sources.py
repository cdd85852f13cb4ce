"""Where the quality report reads the two program figures kept by other parts of issue 14: the start-of-therapy
checklist and the schedule teach-back.

On this branch neither table exists yet, so both functions answer "no data" for every patient and the report says
"not recorded yet". At merge the lead replaces the two bodies with the real functions (same signatures):
`server/services/pqi/checklist.py: checklist_completed_at` and `server/services/pqi/teach_back.py: teach_back_results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session


@dataclass(frozen=True)
class TeachBackResult:
    """A patient's latest schedule teach-back (the shape of server/services/pqi/teach_back.py's result)."""

    plan_id: int
    passed: bool | None  # None: not answered yet
    answered_at: datetime | None
    wrong_twice: bool


def checklist_completed_at(session: Session, patient_ids: Sequence[int]) -> dict[int, datetime | None]:
    """When each patient's start-of-therapy checklist was completed (None: incomplete); {} = not recorded yet."""
    return {}


def teach_back_results(session: Session, patient_ids: Sequence[int]) -> dict[int, TeachBackResult]:
    """Each patient's latest teach-back result; {} = not recorded yet."""
    return {}
