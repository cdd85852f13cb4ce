"""The care team's side of the product, one module per concern:

- `inbox`: open alerts as cards, tier counts, the live page's index, held patients ready to resume;
- `alert_actions`: acknowledge, assign, note, resolve an alert, act on the label;
- `plan_changes`: the plan form and plan decisions from a patient's page or an alert;
- `roster`, `patient_record` (overview, weights, timeline), `visit_summary`, `recent_days`, `plan_history`;
- `wording`: the words and formatters the staff pages show;
- `accounts` (passwords, creating an account), `auth` (sign-in, TOTP, sessions), `admin` (account administration).

Reading the audit log is in `server.services.audit`; what a staff member may see (their clinic only) is in
`server.services.clinic_scope`, shared with the quality program (`server.services.pqi`).
"""
