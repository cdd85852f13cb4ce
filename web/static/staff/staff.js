// Small helpers for staff pages: confirm dangerous buttons, copy the invite link, Day 3 follows Day 1, enrollment's
// levels per regimen and filterable lists.
(() => {
  "use strict";
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
    const copy = event.target.closest("button[data-copy]");
    if (copy) {
      const field = document.querySelector(copy.dataset.copy);
      if (field && navigator.clipboard) navigator.clipboard.writeText(field.value).then(() => { copy.textContent = "Copied"; });
    }
  });
  // Day 3 is always two days after Day 1 (clinical-reference §1).
  for (const [one, three] of [["day1_weekday", "day3_weekday"], ["s-day1", "s-day3"]]) {
    const day1 = document.getElementById(one), day3 = document.getElementById(three);
    if (day1 && day3) day1.addEventListener("change", () => { day3.value = String((Number(day1.value) + 2) % 7); });
  }
  // Enrollment: only the chosen regimen's levels are offered (the server refuses another regimen's level anyway),
  // each in tablets of the chosen strength.
  const regimen = document.getElementById("regimen"), level = document.getElementById("start_level");
  const strength = document.getElementById("tablet_strength_mg");
  if (regimen && level) {
    const sync = () => {
      for (const group of level.querySelectorAll("optgroup")) {
        const mine = group.dataset.regimen === regimen.value;
        group.hidden = !mine; group.disabled = !mine;
      }
      const chosen = level.selectedOptions[0];
      if (!chosen || chosen.dataset.regimen !== regimen.value) {
        const first = level.querySelector(`option[data-regimen="${regimen.value}"]`);
        if (first) first.selected = true;
      }
    };
    const tablets = () => {
      const mg = Number(strength && strength.value);
      if (!mg) return;
      for (const option of level.querySelectorAll("option[data-dose-mg]")) {
        const dose = Number(option.dataset.doseMg), count = dose / mg;
        const words = Number.isInteger(count) ? `${count} tablet${count === 1 ? "" : "s"} of ${mg} mg` : `not whole ${mg} mg tablets`;
        option.textContent = `${option.dataset.words}, ${words} each dose`;
      }
    };
    regimen.addEventListener("change", sync); sync();
    if (strength) { strength.addEventListener("change", tablets); tablets(); }
  }
  // A long list (time zones): a filter box above it; typing narrows the list and chooses the first match.
  for (const select of document.querySelectorAll("select[data-filterable]")) {
    const box = document.createElement("input");
    box.type = "search"; box.id = `${select.id}-filter`; box.autocomplete = "off";
    box.setAttribute("aria-controls", select.id);
    const label = document.createElement("label");
    label.htmlFor = box.id; label.textContent = "Find a zone: type a city, region or UTC offset";
    const count = document.createElement("span");
    count.className = "hint"; count.id = `${select.id}-count`; count.setAttribute("role", "status");
    box.setAttribute("aria-describedby", count.id);
    select.size = 6;
    const wrap = document.createElement("div");
    wrap.className = "filter-box";
    wrap.append(label, box, count);
    select.before(wrap);
    const fold = (text) => text.toLowerCase().replace(/[_/]/g, " ").replace(/\u2212/g, "-");
    box.addEventListener("input", () => {
      const words = fold(box.value).split(/\s+/).filter(Boolean);
      let shown = 0, first = null;
      for (const option of select.options) {
        const text = fold(`${option.value} ${option.textContent}`);
        const match = words.every((w) => text.includes(w));
        option.hidden = !match;
        if (match) { shown += 1; first = first || option; }
      }
      for (const group of select.querySelectorAll("optgroup")) group.hidden = ![...group.children].some((o) => !o.hidden);
      const chosen = select.selectedOptions[0];
      if (first && (!chosen || chosen.hidden)) first.selected = true;
      count.textContent = words.length ? `${shown} zone${shown === 1 ? "" : "s"} match` : "";
    });
  }
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
