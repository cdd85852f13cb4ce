/* Red flags on the phone (architecture flow 7, clinical reference §3): an entry saved offline that meets an urgent
 * patient-reported threshold shows "Call your care team now" before any network. The thresholds are not here: they
 * are the server's table (server/clinical/red_flags.py), served at /static-data/red-flags.json with the app shell and
 * kept by the service worker. The server stays the authority once the entry reaches it.
 * tests/e2e/test_patient_red_flags.py runs this evaluator over the boundary cases and compares it with the rules.
 */
(function (scope) {
  "use strict";
  const TABLE_URL = "/static-data/red-flags.json";
  const KG_PER_LB = 0.45359237; // server/clinical/grading.py
  const NAUSEA_GRADES = { none: 0, mild: 1, eating_less: 2, cannot_eat: 3 }; // server/clinical/grading.py QUESTIONS

  // Round as Python's round(x, digits) does for these values (ties cannot fall on a threshold).
  function round(value, digits) {
    return Number(value.toFixed(digits));
  }

  /* The measures of one entry as the API would get it (`data`: the API body; `context`: {usualStools, baselineKg}). */
  function measures(kind, data, context) {
    const m = {};
    context = context || {};
    if (kind === "symptoms") {
      if (typeof data.temperature === "number") {
        // server/routes/patient/schemas.py SymptomsIn.answers: °F to °C, 2 decimals
        m.temperature_c = data.temperature_unit === "f" ? round((data.temperature - 32) * 5 / 9, 2) : data.temperature;
      }
      if (typeof data.chills === "boolean") m.chills = data.chills;
      if (data.nausea in NAUSEA_GRADES) m.nausea = NAUSEA_GRADES[data.nausea];
      if (typeof data.vomiting_episodes === "number") m.vomiting_episodes = data.vomiting_episodes;
      if (typeof data.loose_stools === "number") {
        m.stools_above_usual = Math.max(0, data.loose_stools - (Number(context.usualStools) || 1));
      }
      if (typeof data.bleeding === "string") m.bleeding = data.bleeding;
      if (typeof data.neuro === "string") m.neuro = data.neuro;
    } else if (kind === "weight") {
      const baseline = Number(context.baselineKg);
      if (typeof data.value === "number" && baseline > 0) {
        const kg = (data.unit || context.unit) === "lb" ? data.value * KG_PER_LB : data.value;
        // server/clinical/rules.py _pct_below: rounded to 6 decimals
        m.weight_loss_pct = round((baseline - kg) / baseline * 100, 6);
      }
    }
    return m;
  }

  /* The rules of the table that the measures meet, in the table's order, each once. */
  function evaluate(table, m) {
    const met = [];
    for (const row of (table && table.flags) || []) {
      if (!(row.measure in m) || met.includes(row.rule)) continue;
      const value = m[row.measure];
      const hit = row.op === ">=" ? typeof value === "number" && value >= row.value : value === row.value;
      if (hit) met.push(row.rule);
    }
    return met;
  }

  let table = null;
  /* The table: fetched (the service worker answers from its cache offline), else the last copy this page saw. */
  async function load() {
    try {
      const response = await fetch(TABLE_URL, { credentials: "same-origin" });
      if (response.ok) table = await response.json();
    } catch (offline) { /* keep the copy we have */ }
    return table;
  }

  scope.CompanionRedFlags = { measures, evaluate, load };
})(self);
