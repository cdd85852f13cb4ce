/* The offline queue: entries waiting to be sent, kept in IndexedDB until the server has them.
 *
 * Shared by the pages (app.js) and the service worker (sw.js, through importScripts). Every entry carries the
 * idempotency key made when the patient tapped Save, so sending it twice (the page's `online` handler and Background
 * Sync racing, or a reply lost on a bad connection) still stores it once: the server answers a replay with the
 * stored entry. Items are sent oldest first, so an anti-nausea log reaches the server before the dose after it.
 */
(function (scope) {
  "use strict";
  const DB_NAME = "companion";
  const QUEUE = "queue";
  const META = "meta";

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(QUEUE)) db.createObjectStore(QUEUE, { keyPath: "key" });
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(store, mode, action) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(store, mode);
        const request = action(tx.objectStore(store));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  function csrfFromCookie() {
    if (typeof document === "undefined") return "";
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  let flushing = null;

  const Queue = {
    add: (item) => run(QUEUE, "readwrite", (s) => s.put(item)),
    put: (item) => run(QUEUE, "readwrite", (s) => s.put(item)),
    remove: (key) => run(QUEUE, "readwrite", (s) => s.delete(key)),
    all: async () => ((await run(QUEUE, "readonly", (s) => s.getAll())) || []).sort((a, b) => a.created - b.created),
    getMeta: (name) => run(META, "readonly", (s) => s.get(name)),
    setMeta: (name, value) => run(META, "readwrite", (s) => s.put(value, name)),
    csrfFromCookie,

    /* The server's advice kept for one patient's entries that showed "call now" offline; removed once taken. */
    async takeSyncedAdvice(patient) {
      const kept = (await Queue.getMeta("synced-advice")) || [];
      const mine = kept.filter((a) => a.patient === String(patient));
      if (mine.length) await Queue.setMeta("synced-advice", kept.filter((a) => a.patient !== String(patient)));
      return mine.map((a) => a.html);
    },

    /* Send one item. Resolves to "sent", "rejected" (the server refused it: kept with its message for the patient),
       or "later" (offline, server trouble, signed out: try again later). */
    async send(item) {
      let response;
      try {
        response = await fetch(item.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json",
                     "x-csrftoken": csrfFromCookie() || item.csrf || "" },
          body: JSON.stringify(item.body),
        });
      } catch (networkError) {
        return { outcome: "later" };
      }
      let data = {};
      try { data = await response.json(); } catch (notJson) { data = {}; }
      if (response.ok) {
        // An entry that showed "call now" offline: keep the server's full advice for the page to show after sync
        // (Background Sync may send it while no page is waiting for the answer).
        if (item.redFlag && data.advice_html) {
          const kept = (await Queue.getMeta("synced-advice")) || [];
          kept.push({ patient: String(item.patient), html: data.advice_html });
          await Queue.setMeta("synced-advice", kept);
        }
        await Queue.remove(item.key);
        return { outcome: "sent", data };
      }
      if (response.status === 409 || response.status === 422 || response.status === 404) {
        item.status = "rejected";
        item.message = data.message || "";
        item.field = data.field || "";
        await Queue.put(item);
        return { outcome: "rejected", data };
      }
      return { outcome: "later", status: response.status };
    },

    /* Send the pending items of one patient, oldest first; stop at the first one that has to wait.
       Resolves to true when nothing of theirs is left pending. */
    flush(patient) {
      if (flushing) return flushing;
      flushing = (async () => {
        try {
          const items = (await Queue.all()).filter((i) => i.status === "pending" && String(i.patient) === String(patient));
          for (const item of items) {
            const result = await Queue.send(item);
            if (result.outcome === "later") return false;
          }
          return true;
        } finally {
          flushing = null;
        }
      })();
      return flushing;
    },
  };

  scope.CompanionQueue = Queue;
})(self);
