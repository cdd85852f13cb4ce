"""The codes the FHIR API speaks: LOINC lab codes mapped to the lab fields of the rules, UCUM units converted to
the units of the rules (clinical-reference §4b), and the code systems the product publishes."""

from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True)
class LabCode:
    field: str  # LabResult / LabValues field
    display: str  # the LOINC long common name


# LOINC codes accepted as lab Observations. Several codes measure the same thing (automated or manual count,
# serum or blood); each maps to the one value the rules read.
LAB_CODES: dict[str, LabCode] = {
    "2951-2": LabCode("sodium_mmol_l", "Sodium [Moles/volume] in Serum or Plasma"),
    "2947-0": LabCode("sodium_mmol_l", "Sodium [Moles/volume] in Blood"),
    "777-3": LabCode("platelets_10e9_l", "Platelets [#/volume] in Blood by Automated count"),
    "26515-7": LabCode("platelets_10e9_l", "Platelets [#/volume] in Blood"),
    "751-8": LabCode("anc_10e9_l", "Neutrophils [#/volume] in Blood by Automated count"),
    "753-4": LabCode("anc_10e9_l", "Neutrophils [#/volume] in Blood by Manual count"),
    "26499-4": LabCode("anc_10e9_l", "Neutrophils [#/volume] in Blood"),
    "718-7": LabCode("hemoglobin_g_dl", "Hemoglobin [Mass/volume] in Blood"),
}

# The code each field is exported with (the first, most common one).
EXPORT_CODE = {
    "sodium_mmol_l": "2951-2",
    "platelets_10e9_l": "777-3",
    "anc_10e9_l": "751-8",
    "hemoglobin_g_dl": "718-7",
}

# The unit of the rules per field, as UCUM code and as printed.
RULE_UNIT = {"sodium_mmol_l": "mmol/L", "platelets_10e9_l": "10*9/L", "anc_10e9_l": "10*9/L", "hemoglobin_g_dl": "g/dL"}

_CELL_COUNT = {  # to 10^9 cells per litre
    "10*9/L": 1.0,
    "10*9/l": 1.0,
    "10*3/uL": 1.0,
    "10*3/ul": 1.0,
    "10*3/mm3": 1.0,
    "10*6/mL": 1.0,
    "10*6/L": 1e-3,
    "/uL": 1e-3,
    "/ul": 1e-3,
    "/mm3": 1e-3,
    "/L": 1e-9,
}
# UCUM per field: factor to the unit of the rules. For sodium (a monovalent ion) one milliequivalent is one
# millimole. Hemoglobin in mmol/L (of the monomer, as Dutch and Scandinavian labs report it) times 1.6114 is g/dL.
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "sodium_mmol_l": {"mmol/L": 1.0, "mmol/l": 1.0, "meq/L": 1.0, "mEq/L": 1.0, "meq/l": 1.0, "mEq/l": 1.0},
    "platelets_10e9_l": _CELL_COUNT,
    "anc_10e9_l": _CELL_COUNT,
    "hemoglobin_g_dl": {"g/dL": 1.0, "g/dl": 1.0, "g/L": 0.1, "g/l": 0.1, "mg/dL": 1e-3, "mmol/L": 1.6114},
}


def lab_code(code: str) -> LabCode | None:
    """The lab a LOINC code measures, or None when it is not one the rules read."""
    return LAB_CODES.get(code)


def convert(field: str, value: float, unit: str) -> float | None:
    """`value` in `unit` (a UCUM code) converted to the unit of the rules for `field`; None if not convertible."""
    factor = UNIT_FACTORS[field].get(unit)
    if factor is None:
        return None
    return round(value * factor, 6)


def accepted_units(field: str) -> list[str]:
    """The UCUM codes accepted for a field (for error messages and the CapabilityStatement)."""
    return sorted(UNIT_FACTORS[field])


# Published by this server (their URLs are under the server's base URL, see record_out).
RULE_CODESYSTEM_PATH = "/fhir/CodeSystem/companion-rules"
TIER_EXTENSION_PATH = "/fhir/StructureDefinition/alert-tier"
SYMPTOM_QUESTIONNAIRE_ID = "companion-symptoms"
