/* The patient pages' small script: entries go through the offline queue, the advice appears in place, the service
 * worker keeps the app usable offline, and Web Push can be switched on. Every page also works without it (forms post
 * to the server, which answers with the same advice).
 */
(function () {
  "use strict";
  const Queue = self.CompanionQueue;
  const body = document.body;
  const patient = body.dataset.patient;
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const API = { dose: "/api/doses", antiemetic: "/api/antiemetics", symptoms: "/api/symptoms", weight: "/api/weights" };
  const CONFIRM_CHANGE = 0.05; // clinical-reference §5: confirm a weight more than 5% away from the previous one

  function newKey() {
    if (self.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------------------------------- queue status
  async function showQueue() {
    const box = document.getElementById("queue");
    if (!box || !Queue) return;
    const items = (await Queue.all()).filter((i) => String(i.patient) === String(patient));
    const pending = items.filter((i) => i.status === "pending");
    const rejected = items.filter((i) => i.status === "rejected");
    box.textContent = "";
    if (pending.length) {
      const p = document.createElement("p");
      p.id = "queue-count";
      p.textContent = pending.length === 1 ? strings.waiting_one : strings.waiting_other.replace("{n}", pending.length);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn second";
      button.textContent = strings.send_now;
      button.addEventListener("click", () => flush());
      box.append(p, button);
    }
    for (const item of rejected) {
      const p = document.createElement("p");
      p.textContent = `${strings.rejected} ${strings["kind_" + item.kind] || ""}: ${item.message}`;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn second";
      button.textContent = strings.dismiss;
      button.addEventListener("click", async () => { await Queue.remove(item.key); showQueue(); });
      box.append(p, button);
    }
    box.hidden = !(pending.length || rejected.length);
  }

  async function flush() {
    if (!Queue || !patient) return;
    await Queue.flush(patient);
    await showQueue();
    await showSyncedAdvice();
  }

  async function askForBackgroundSync() {
    try {
      const registration = await navigator.serviceWorker.ready;
      if (registration.sync) await registration.sync.register("send-entries");
    } catch (unsupported) { /* the `online` event and the next page load send the queue instead */ }
  }

  // ------------------------------------------------------------------------------------------- forms -> API body
  function apiBody(form, submitter) {
    const data = {};
    let when = "now", day = "", time = "";
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.name === "_csrf_token" || el.type === "submit" || el.tagName === "BUTTON") continue;
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      if (el.closest("[hidden]") && el.type !== "hidden") continue;
      if (el.name === "when") { when = el.value; continue; }
      if (el.name === "day") { day = el.value; continue; }
      if (el.name === "time") { time = el.value; continue; }
      if (el.value === "") continue;
      data[el.name] = convert(el, el.value);
    }
    if (submitter && submitter.name) data[submitter.name] = convert(submitter, submitter.value);
    if (when === "earlier") {
      // The day and time as typed: the server reads them in the patient's zone, whatever the phone's zone is.
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || !/^\d{1,2}:\d{2}(:\d{2})?$/.test(time)) {
        return { error: { field: "time", message: strings.check_time } };
      }
      data.local_day = day;
      data.local_time = time;
    } else {
      data.at = new Date().toISOString();
    }
    if (data.status && data.status !== "missed") delete data.scheduled_for;
    return { data };
  }

  function convert(el, value) {
    const type = el.dataset.type;
    if (type === "bool") return value === "true";
    if (type === "int" || type === "float") {
      const number = Number(String(value).trim().replace(",", "."));
      return Number.isFinite(number) ? number : value; // not a number: the server names the field
    }
    return value;
  }

  // ------------------------------------------------------------------------------------------- errors and advice
  function clearErrors(form) {
    form.querySelectorAll(".error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const summary = document.getElementById("error-summary");
    if (summary) summary.hidden = true;
  }

  function showError(form, field, message) {
    const target = document.getElementById(`${field}-error`) || document.getElementById("error-summary");
    if (target && target.classList.contains("error")) {
      target.textContent = message;
      target.hidden = false;
      const input = document.getElementById(field) || form.querySelector(`[name="${field}"]`);
      const group = document.getElementById(`${field}-group`);
      if (input) input.setAttribute("aria-invalid", "true");
      (input || group || target).focus?.();
    }
    const summary = document.getElementById("error-summary");
    if (summary) {
      summary.hidden = false;
      const list = summary.querySelector("ul");
      if (list) {
        list.textContent = "";
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = `#${field}-error`;
        a.textContent = message;
        li.append(a);
        list.append(li);
      }
      if (!target || !target.classList.contains("error")) summary.focus?.();
    }
  }

  // The answer replaces what the patient just did: a one-tap button on Today, or the whole form on a form page.
  function finish(form, node) {
    node.tabIndex = -1;
    const main = document.getElementById("main");
    const entry = document.getElementById("entry");
    const after = document.getElementById("after-entry");
    if (form.closest(".steps")) {
      form.replaceWith(node);
    } else if (entry && after) {
      main.querySelectorAll(".advice").forEach((old) => old.remove());
      entry.hidden = true;
      after.hidden = false;
      after.before(node);
      form.reset();
      refreshKey(form);
    } else {
      main.insertBefore(node, main.querySelector("h1").nextSibling);
    }
    node.focus();
    node.scrollIntoView({ block: "start" });
  }

  function showAdvice(form, html) {
    const holder = document.createElement("div");
    holder.innerHTML = html; // rendered by our own server (patient/_advice.html), escaped there
    finish(form, holder.firstElementChild);
  }

  function showSavedOffline(form) {
    const note = document.createElement("p");
    note.className = "banner ok advice";
    note.setAttribute("role", "status");
    note.textContent = strings.saved_offline;
    finish(form, note);
  }

  // An entry that could not be sent and meets an urgent threshold of the server's table (redflags.js): the red
  // "call now" result at once, on the phone (clinical-reference §3); the server's full advice follows after sync.
  async function flagsOffline(form, kind, data) {
    const RedFlags = self.CompanionRedFlags;
    if (!RedFlags) return [];
    if (!redFlagTable) redFlagTable = await RedFlags.load();
    const context = { usualStools: form.dataset.usualStools, baselineKg: form.dataset.baselineKg,
                      unit: form.dataset.unit };
    return RedFlags.evaluate(redFlagTable, RedFlags.measures(kind, data, context));
  }

  function showCallNowOffline(form) {
    const holder = document.createElement("div");
    holder.className = "advice";
    holder.dataset.tier = "urgent";
    holder.dataset.offline = "true";
    const section = document.createElement("section");
    section.className = "banner urgent";
    section.setAttribute("role", "alert");
    section.setAttribute("aria-labelledby", "advice-title");
    const title = document.createElement("h2");
    title.id = "advice-title";
    title.textContent = strings.call_now;
    const call = document.createElement("a");
    call.className = "btn";
    call.href = `tel:${strings.clinic_tel}`;
    call.textContent = strings.call_phone;
    const fallback = document.createElement("p");
    fallback.textContent = strings.emergency;
    const saved = document.createElement("p");
    saved.textContent = strings.saved_offline;
    section.append(title, call, fallback, saved);
    holder.append(section);
    finish(form, holder);
  }

  // After sync, the server's advice for the entries that showed "call now" offline (queue.js keeps it for us).
  async function showSyncedAdvice() {
    if (!Queue || !patient) return;
    const waiting = (await Queue.takeSyncedAdvice(patient)) || [];
    const main = document.getElementById("main");
    for (const html of waiting) {
      const holder = document.createElement("div");
      holder.innerHTML = html; // rendered by our own server (patient/_advice.html), escaped there
      const node = holder.firstElementChild;
      if (!node) continue;
      const offline = main.querySelector('.advice[data-offline="true"]');
      if (offline) offline.replaceWith(node);
      else main.insertBefore(node, main.querySelector("h1").nextSibling);
      node.tabIndex = -1;
      node.focus();
    }
  }

  function refreshKey(form) {
    const key = form.elements.idempotency_key;
    if (key) key.value = newKey();
  }

  // Offline the server cannot compare a new weight with the last one: ask here, with the page's last weight.
  function weightNeedsConfirm(form, data) {
    const last = parseFloat(form.dataset.lastKg);
    if (!last || data.confirmed || typeof data.value !== "number") return false;
    const kg = (data.unit || form.dataset.unit) === "lb" ? data.value * 0.45359237 : data.value;
    return Math.abs(kg - last) / last > CONFIRM_CHANGE;
  }

  // clinical-reference R-WRONG-DAY: a dose logged as taken on a day that is not a selinexor day is asked about
  // before it is saved (the page knows the dose days of the week it offers), offline too.
  function askWrongDay(form, data) {
    const box = document.getElementById("wrong-day");
    if (!box || form.dataset.doseDays === undefined || data.status !== "taken" || data.wrong_day_confirmed) return false;
    const day = data.local_day || form.dataset.today;
    if (form.dataset.doseDays.split(" ").includes(day)) return false;
    const which = day === form.dataset.today ? "today" : "other";
    box.querySelectorAll("[data-wrong-day]").forEach((p) => { p.hidden = p.dataset.wrongDay !== which; });
    box.hidden = false;
    box.tabIndex = -1;
    box.focus();
    return true;
  }

  // "Did you mean 38.4 °C?" (clinical-reference §5): the one-tap button that sends the same number in that unit.
  function showUnitSwitch(form, unit) {
    form.querySelectorAll("button[name=switch_unit]").forEach((b) => b.remove());
    const error = document.getElementById("temperature-error");
    if (!unit || !error) return;
    const button = document.createElement("button");
    button.className = "btn second";
    button.type = "button"; // sent by its own click, never by the Enter key
    button.name = "switch_unit";
    button.value = unit;
    button.textContent = unit === "c" ? strings.unit_c : strings.unit_f;
    button.addEventListener("click", () => {
      const chosen = form.querySelector(`input[name=temperature_unit][value="${unit}"]`);
      if (chosen) chosen.checked = true;
      button.remove();
      form.requestSubmit();
    });
    error.after(button);
  }

  // The same question on the phone, before saving (offline too): the page carries the §5 ranges.
  function askTemperatureUnit(form, data) {
    if (typeof data.temperature !== "number" || data.switch_unit || !form.dataset.otherUnit) return false;
    const unit = data.temperature_unit || "c";
    const range = JSON.parse(form.dataset.otherUnit)[unit];
    if (!range || data.temperature < range[0] || data.temperature > range[1]) return false;
    const meant = unit === "f" ? "c" : "f";
    const value = String(data.temperature).replace(".", strings.decimal || ".");
    showError(form, "temperature", strings.did_you_mean.replace("{value}", value)
      .replace("{unit}", meant === "c" ? "°C" : "°F"));
    showUnitSwitch(form, meant);
    return true;
  }

  function askToConfirmWeight(form, message) {
    showError(form, "weight", message || strings.weight_confirm);
    const confirm = document.getElementById("confirm-weight");
    if (confirm) confirm.hidden = false;
  }

  // ------------------------------------------------------------------------------------------- submit
  async function submitEntry(event) {
    const form = event.target;
    const kind = form.dataset.entry;
    if (!Queue || !API[kind]) return; // no queue: let the browser post the form
    event.preventDefault();
    clearErrors(form);
    const built = apiBody(form, event.submitter);
    if (built.error) { showError(form, built.error.field, built.error.message); return; }
    const data = built.data;
    if (kind === "dose" && askWrongDay(form, data)) return;
    if (kind === "symptoms" && askTemperatureUnit(form, data)) return;
    if (kind === "weight" && weightNeedsConfirm(form, data)) {
      askToConfirmWeight(form);
      return;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    const item = { key: data.idempotency_key, kind, url: API[kind], body: data, patient, created: Date.now(),
                   status: "pending", csrf: Queue.csrfFromCookie() };
    try {
      await Queue.add(item);
      const result = await Queue.send(item);
      if (result.outcome === "sent") {
        showAdvice(form, result.data.advice_html);
      } else if (result.outcome === "rejected") {
        await Queue.remove(item.key); // the patient is here to fix it: no need to keep it in the list
        if (result.data.confirm) askToConfirmWeight(form, result.data.message);
        else showError(form, result.data.field || "form", result.data.message);
        showUnitSwitch(form, result.data.switch_unit);
      } else {
        if ((await flagsOffline(form, kind, data)).length) {
          item.redFlag = true; // queue.js keeps the server's advice for this one after sync
          await Queue.put(item);
          showCallNowOffline(form);
        } else {
          showSavedOffline(form);
        }
        askForBackgroundSync();
      }
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      showQueue();
    }
  }

  // Dose page: show "when did you take it?" or "which dose did you miss?" for the chosen answer.
  function followStatus(form) {
    const chosen = form.querySelector('input[name="status"]:checked');
    form.querySelectorAll("[data-for-status]").forEach((section) => {
      section.hidden = !chosen || !section.dataset.forStatus.split(" ").includes(chosen.value);
    });
    const when = form.querySelector('input[name="when"]:checked');
    form.querySelectorAll("[data-earlier]").forEach((row) => { row.hidden = !when || when.value !== "earlier"; });
  }

  function enhanceForms() {
    document.querySelectorAll("form[data-entry]").forEach((form) => {
      // Pages may come from the offline cache: never reuse a key that a cached copy of the page already carried.
      refreshKey(form);
      form.addEventListener("submit", submitEntry);
      if (form.querySelector("[data-for-status], [data-earlier]")) {
        form.addEventListener("change", () => followStatus(form));
        followStatus(form);
      }
    });
  }

  // Check-in: "What is bothering you?" opens only those questions, in place (works offline from the cached page;
  // without JavaScript the same form asks the server for ?about=…).
  function enhanceChooser() {
    const chooser = document.getElementById("chooser");
    if (!chooser) return;
    chooser.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = Array.from(chooser.querySelectorAll("input[name=about]:checked"), (i) => i.value);
      document.querySelectorAll("[data-about]").forEach((group) => {
        group.hidden = chosen.length > 0 && !chosen.includes(group.dataset.about);
      });
      const first = document.querySelector("[data-about]:not([hidden])");
      if (first) {
        first.scrollIntoView({ block: "start" });
        const input = first.querySelector("input, select, textarea");
        if (input) input.focus({ preventScroll: true });
      }
    });
  }

  // ------------------------------------------------------------------------------------------- service worker
  async function registerServiceWorker() {
    if (!("serviceWorker" in navigator)) return;
    try {
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      const registration = await navigator.serviceWorker.ready;
      // The cached pages are in one language for one patient: after a change, the worker fetches them again.
      if (registration.active) registration.active.postMessage({ type: "refresh-shell", stamp: body.dataset.stamp });
    } catch (error) {
      console.warn("service worker not available", error);
    }
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "queue-changed") showQueue().then(showSyncedAdvice);
    });
  }

  // ------------------------------------------------------------------------------------------- Web Push
  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function setUpPush() {
    const section = document.getElementById("push");
    if (!section) return;
    const status = document.getElementById("push-status");
    const on = document.getElementById("push-on");
    const off = document.getElementById("push-off");
    if (!("PushManager" in self) || !("serviceWorker" in navigator)) { section.hidden = true; return; }
    const registration = await navigator.serviceWorker.ready;
    const show = (subscribed) => {
      on.hidden = subscribed; off.hidden = !subscribed;
      status.textContent = subscribed ? strings.push_on : strings.push_off;
    };
    show(Boolean(await registration.pushManager.getSubscription()));
    on.addEventListener("click", async () => {
      if ((await Notification.requestPermission()) !== "granted") { status.textContent = strings.push_blocked; return; }
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(section.dataset.key) });
      await api("POST", "/api/push-subscriptions", subscription.toJSON());
      show(true);
    });
    off.addEventListener("click", async () => {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await api("DELETE", "/api/push-subscriptions", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      show(false);
    });
  }

  function api(method, url, data) {
    return fetch(url, { method, credentials: "same-origin", body: JSON.stringify(data),
                        headers: { "Content-Type": "application/json", "x-csrftoken": Queue.csrfFromCookie() } });
  }

  // Signing out: this phone keeps no copy of the patient's pages.
  function clearOnSignOut() {
    const form = document.getElementById("signout");
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await Queue.setMeta("patient", null);
        if (self.caches) for (const name of await caches.keys()) await caches.delete(name);
      } finally {
        form.submit();
      }
    });
  }

  // ------------------------------------------------------------------------------------------- start
  let redFlagTable = null;
  if (self.CompanionRedFlags && document.querySelector("form[data-entry]")) {
    self.CompanionRedFlags.load().then((table) => { redFlagTable = table; });
  }
  enhanceForms();
  enhanceChooser();
  clearOnSignOut();
  if (Queue && patient) {
    Queue.setMeta("patient", patient).catch(() => {});
    showQueue();
    if (navigator.onLine) flush();
    self.addEventListener("online", () => flush());
  }
  registerServiceWorker().then(setUpPush);
})();
