// Small helpers for staff pages: confirm dangerous buttons, copy the invite link, Day 3 follows Day 1.
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
  // Enrollment: only the chosen regimen's levels are offered.
  const regimen = document.getElementById("regimen"), level = document.getElementById("start_level");
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
    regimen.addEventListener("change", sync); sync();
  }
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
