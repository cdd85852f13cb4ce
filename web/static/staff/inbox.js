// The live inbox: Server-Sent Events say that an alert changed; the page's list (one page of patients, each with
// its open alerts) is fetched again and swapped in, keeping open sections open; rows not seen before are
// highlighted. The database stays the truth: on reconnect, and every minute, the list is re-read.
(() => {
  "use strict";
  if (!document.getElementById("alert-list")) return;
  const status = document.getElementById("live-status");
  let pending = null; // a list fetched while someone was typing in the old one
  let timer = null;
  let everConnected = false;

  const current = () => document.getElementById("alert-list");
  const known = new Set([...current().querySelectorAll(".alert-card")].map((el) => el.id));

  const setStatus = (text, on) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("on", on);
    status.classList.toggle("off", !on);
  };

  const beingEdited = (list) => {
    const active = document.activeElement;
    if (active && list.contains(active) && active.matches("input, textarea, select")) return true;
    return [...list.querySelectorAll("textarea, input[type=text], input:not([type])")].some((el) => el.value.trim() !== "");
  };

  const listUrl = () => {
    const list = current();
    const query = new URLSearchParams();
    if (list.dataset.filterTier) query.set("tier", list.dataset.filterTier);
    if (list.dataset.filterMine) query.set("mine", "true");
    query.set("page", list.dataset.page || "1");
    return `/staff/inbox/list?${query}`;
  };

  const updateCounts = (list) => {
    for (const tier of ["urgent", "same_day", "routine"]) {
      const el = document.getElementById(`count-${tier}`);
      if (el) el.textContent = list.dataset[`count${tier === "same_day" ? "Same_day" : tier[0].toUpperCase() + tier.slice(1)}`] || "0";
    }
    const total = Number(list.dataset.total || "0");
    document.title = (total ? `(${total}) ` : "") + "Inbox · Selinexor Companion";
  };

  const install = (fresh) => {
    const old = current();
    if (beingEdited(old)) { pending = fresh; old.classList.add("stale"); return; }
    pending = null;
    // Keep what the person had opened (a patient's 14 days, an alert's actions) open across the swap.
    const opened = new Set([...old.querySelectorAll("details[open]")].map((d) => {
      const owner = d.closest("[id]");
      return `${owner ? owner.id : ""}|${d.className}`;
    }));
    for (const d of fresh.querySelectorAll("details")) {
      const owner = d.closest("[id]");
      if (opened.has(`${owner ? owner.id : ""}|${d.className}`)) d.open = true;
    }
    for (const card of fresh.querySelectorAll(".alert-card")) {
      if (!known.has(card.id)) { card.classList.add("fresh"); known.add(card.id); }
    }
    old.replaceWith(fresh);
    updateCounts(fresh);
  };

  const refreshList = async () => {
    let response;
    try {
      response = await fetch(listUrl(), { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch { return; }
    if (response.redirected && response.url.includes("/staff/login")) { window.location.assign("/staff/login?next=/staff/inbox"); return; }
    if (!response.ok) return;
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const fresh = template.content.querySelector("#alert-list");
    if (fresh) install(fresh);
  };

  const refreshResume = async () => {
    const panel = document.getElementById("resume-panel");
    if (!panel) return;
    try {
      const response = await fetch("/staff/inbox/resume", { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.ok && !response.redirected) panel.innerHTML = await response.text();
    } catch { /* next event or resync brings it */ }
  };

  // Several changes in a burst (an entry opening two alerts) cost one fetch.
  const soon = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; refreshList(); refreshResume(); }, 150);
  };

  // A list held back is applied once the person leaves the form with its fields empty again.
  document.addEventListener("focusout", () => setTimeout(() => {
    if (pending && !beingEdited(current())) install(pending);
  }, 0));

  if (!("EventSource" in window)) { setStatus("Live updates unavailable: refreshing every minute", false); setInterval(soon, 60000); return; }
  // The browser reconnects a dropped stream by itself (after the server's `retry`); one it gave up on (the server
  // answered with an error, e.g. while restarting) is opened again here. Every (re)connection re-reads the list, so
  // what changed while the stream was down is shown, and so does `resync` (the server may have missed events).
  const connect = () => {
    const source = new EventSource("/staff/inbox/stream");
    source.addEventListener("hello", () => {
      setStatus("Live", true);
      if (everConnected) soon();
      everConnected = true;
    });
    source.addEventListener("alert", soon);
    source.addEventListener("resync", soon);
    source.addEventListener("signed-out", () => { source.close(); window.location.assign("/staff/login"); });
    source.addEventListener("error", () => {
      setStatus("Reconnecting…", false);
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
  };
  connect();
  setInterval(soon, 60000);
  updateCounts(current());
})();
