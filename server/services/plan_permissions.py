"""Which staff roles may change a treatment plan, and how (issue 12 item 4): only clinical roles change doses; a nurse
may hold per protocol; the IT administrator changes nothing. The mapping is the PLAN_CHANGE_ROLES setting; this
module applies it (the plan service before every change, the staff routes' guard before every plan form)."""

from __future__ import annotations

from ..errors import Forbidden
from ..settings import Settings

ROLE_WORDS = {
    "nurse": "nurse",
    "practitioner": "nurse practitioner",
    "pharmacist": "pharmacist",
    "physician": "physician",
    "admin": "administrator",
}


def operation_kind(operation: str, current_status: str) -> str:
    """The permission an operation needs: "resume" of an active plan is a change of level."""
    if operation == "resume" and current_status == "active":
        return "change_level"
    return operation


def allowed_operations(settings: Settings, role: str | None) -> frozenset[str]:
    """The plan operations the role may perform (none for a role the setting does not list)."""
    return settings.plan_roles.get(role or "", frozenset())


def may_change_plans(settings: Settings, role: str | None) -> bool:
    """Whether the role may perform any plan operation (the plan forms are shown, the plan routes let it in)."""
    return bool(allowed_operations(settings, role))


def ensure_may(settings: Settings, role: str | None, kind: str) -> None:
    """Forbidden unless the role may perform this kind of plan change."""
    if kind not in allowed_operations(settings, role):
        who = ROLE_WORDS.get(role or "", role or "this account")
        what = kind.replace("_", " ")
        raise Forbidden(
            f"A {who} may not {what} a treatment plan here; ask a physician, pharmacist or nurse practitioner."
        )
