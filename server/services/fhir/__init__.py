"""HL7 FHIR R4 interoperability (issue 15): lab Observations in, the patient's record out, machine clients.

Every resource is built and parsed with `fhir.resources` (its R4B models: R4B is R4 with errata; every element
used here is the same in R4); nothing is hand-built JSON. Modules:
- `outcomes`: FhirError and the OperationOutcome it becomes;
- `terminology`: the LOINC codes accepted and the UCUM units converted to the units of the rules;
- `clients`: registered clients, the client-credentials token and the scopes;
- `patients`: the MRN identifier and finding a patient by it;
- `labs_in`: Observations and transaction/batch Bundles in, through the same entry path as a staff-entered lab;
- `record_out`: the patient's record as resources ($everything), the Questionnaire and the CapabilityStatement;
- `bulk`: the asynchronous clinic-level $export as NDJSON.
"""
