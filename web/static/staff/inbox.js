// The live inbox: Server-Sent Events say which alert changed; the card is fetched and put in its place
// (tier, then age). The database stays the truth: on reconnect, and every minute, the list is re-read.
(() => {
  "use strict";
  const list = document.getElementById("alert-list");
  if (!list) return;
  const empty = document.getElementById("inbox-empty");
  const status = document.getElementById("live-status");
  const filterTier = list.dataset.filterTier || "";
  const filterMine = list.dataset.filterMine || "";
  const deferred = new Map(); // alert id -> card html held back while someone types in the old card
  let everConnected = false;

  const setStatus = (text, on) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("on", on);
    status.classList.toggle("off", !on);
  };

  const beingEdited = (card) => {
    const active = document.activeElement;
    if (active && card.contains(active) && active.matches("input, textarea, select")) return true;
    return [...card.querySelectorAll("textarea, input[type=text], input:not([type])")].some((el) => el.value.trim() !== "");
  };

  const matchesFilter = (card) =>
    (!filterTier || card.dataset.tier === filterTier) && (!filterMine || card.dataset.assignee === filterMine);

  const place = (card) => {
    const key = card.dataset.sort;
    for (const other of list.querySelectorAll(".alert-card")) {
      if (other !== card && other.dataset.sort > key) { list.insertBefore(card, other); return; }
    }
    list.insertBefore(card, empty);
  };

  const updateCounts = () => {
    let total = 0;
    for (const tier of ["urgent", "same_day", "routine"]) {
      const n = list.querySelectorAll(`.alert-card[data-tier="${tier}"]`).length;
      total += n;
      const el = document.getElementById(`count-${tier}`);
      if (el && !filterTier && !filterMine) el.textContent = String(n);
    }
    if (empty) empty.hidden = total > 0;
    document.title = (total ? `(${total}) ` : "") + "Inbox · Selinexor Companion";
  };

  const toElement = (html) => {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  };

  const install = (id, card) => {
    const existing = document.getElementById(`alert-${id}`);
    if (!card || !matchesFilter(card)) { if (existing) existing.remove(); updateCounts(); return; }
    if (existing && beingEdited(existing)) {
      deferred.set(id, card);
      existing.classList.add("stale");
      return;
    }
    if (existing) existing.replaceWith(card);
    place(card);
    card.classList.add("fresh");
    updateCounts();
  };

  const refreshCard = async (id) => {
    let response;
    try {
      response = await fetch(`/staff/inbox/alerts/${id}`, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch { return; }
    if (response.redirected && response.url.includes("/staff/login")) { window.location.assign("/staff/login?next=/staff/inbox"); return; }
    if (response.status === 204 || response.status === 404) { install(id, null); return; }
    if (!response.ok) return;
    install(id, toElement(await response.text()));
  };

  const refreshResume = async () => {
    const panel = document.getElementById("resume-panel");
    if (!panel) return;
    try {
      const response = await fetch("/staff/inbox/resume", { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.ok && !response.redirected) panel.innerHTML = await response.text();
    } catch { /* next event or resync brings it */ }
  };

  // Re-sync with the database (after a reconnect, and every minute as a safety net): the index holds only ids and
  // change stamps, so only cards that changed are fetched (and audited as viewed).
  const resync = async () => {
    let response;
    try {
      response = await fetch("/staff/inbox/index", { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch { return; }
    if (!response.ok || response.redirected) return;
    const { alerts } = await response.json();
    const open = new Map(alerts.map((a) => [String(a.id), a]));
    for (const card of [...list.querySelectorAll(".alert-card")]) {
      if (!open.has(card.dataset.alertId)) install(Number(card.dataset.alertId), null);
    }
    for (const [id, alert] of open) {
      const card = document.getElementById(`alert-${id}`);
      const wanted = (!filterTier || alert.tier === filterTier) && (!filterMine || String(alert.assignee) === filterMine);
      if (wanted && (!card || card.dataset.updated !== alert.updated)) await refreshCard(Number(id));
    }
    await refreshResume();
    updateCounts();
  };

  // A deferred update is applied once the person leaves the card with its fields empty again.
  document.addEventListener("focusout", () => setTimeout(() => {
    for (const [id, card] of deferred) {
      const existing = document.getElementById(`alert-${id}`);
      if (!existing || !beingEdited(existing)) { deferred.delete(id); install(id, card); }
    }
  }, 0));

  if (!("EventSource" in window)) { setStatus("Live updates unavailable: refreshing every minute", false); setInterval(resync, 60000); return; }
  const source = new EventSource("/staff/inbox/stream");
  source.addEventListener("hello", () => {
    setStatus("Live", true);
    if (everConnected) resync();
    everConnected = true;
  });
  source.addEventListener("alert", (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    if (Number.isInteger(data.alert_id)) refreshCard(data.alert_id);
    refreshResume();
  });
  source.addEventListener("signed-out", () => { source.close(); window.location.assign("/staff/login"); });
  source.addEventListener("error", () => setStatus("Reconnecting…", false));
  setInterval(resync, 60000);
  updateCounts();
})();
