"""The code and server/clinical/REFERENCE.md cite each other completely.

Every rule or instruction id that code cites (R-..., P-...) is a row of REFERENCE.md, and every row of REFERENCE.md is
cited by some code (Python under server/ and notifications/, or a template under web/templates/), so a reviewer can
follow each threshold and sentence from the reference to the code and back.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "server" / "clinical" / "REFERENCE.md"

# An id is R- or P- then an upper-case word (digits allowed after the first letter), e.g. R-WT-10, P-MISSED.
# "P-256" (an elliptic curve name in the Web Push code) is not an id: ids start with a letter after the dash.
ID = re.compile(r"\b[RP]-[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*\b")
# Rows are defined where a table row starts with the id, or where a bullet puts it in bold.
ROW = re.compile(r"^\|\s*([RP]-[A-Z][A-Z0-9-]*)\s*\||^-\s+\*\*([RP]-[A-Z][A-Z0-9-]*)\*\*", re.MULTILINE)


def reference_rows() -> set[str]:
    """The ids that REFERENCE.md defines as rows."""
    return {a or b for a, b in ROW.findall(REFERENCE.read_text(encoding="utf-8"))}


def code_citations() -> dict[str, set[str]]:
    """Every id cited by code, with the files citing it."""
    files = [
        *ROOT.joinpath("server").rglob("*.py"),
        *ROOT.joinpath("notifications").rglob("*.py"),
        *ROOT.joinpath("web", "templates").rglob("*.html"),
    ]
    cited: dict[str, set[str]] = {}
    for path in files:
        for rule_id in ID.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(rule_id, set()).add(str(path.relative_to(ROOT)))
    return cited


def test_reference_defines_the_rows_of_version_2():
    rows = reference_rows()
    assert "Version 2" in REFERENCE.read_text(encoding="utf-8")
    # A sample of each section, so a broken row pattern cannot make both directions pass vacuously.
    assert {"P-MISSED", "P-VOMITED", "R-WT-10", "R-ANC-05", "R-WRONG-DAY", "R-PLAN-UNSEEN", "R-LAB-DLBCL"} <= rows
    assert len(rows) >= 38


def test_every_cited_id_is_a_row_of_the_reference():
    rows = reference_rows()
    unknown = {rule_id: sorted(files) for rule_id, files in code_citations().items() if rule_id not in rows}
    assert not unknown, f"cited but not in server/clinical/REFERENCE.md: {unknown}"


def test_every_row_of_the_reference_is_cited_by_code():
    uncited = sorted(reference_rows() - set(code_citations()))
    assert not uncited, f"rows of server/clinical/REFERENCE.md that no code cites: {uncited}"


def test_no_code_points_at_the_shared_copy_outside_the_repository():
    files = [
        *ROOT.joinpath("server").rglob("*.py"),
        *ROOT.joinpath("notifications").rglob("*.py"),
        *ROOT.joinpath("web", "templates").rglob("*.html"),
        ROOT / "README.md",
    ]
    outside = [
        str(p.relative_to(ROOT)) for p in files if "shared/clinical-reference.md" in p.read_text(encoding="utf-8")
    ]
    assert not outside, f"cite server/clinical/REFERENCE.md instead of the shared copy: {outside}"
