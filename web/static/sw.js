/* Service worker of the patient app (served at /sw.js so that its scope is the whole site).
 *
 * - Keeps a copy of the app's pages and files ("the shell") so the app opens without a connection. Pages are
 *   network-first (a fresh Today when online, the last copy when not); versioned files are cache-first.
 * - Sends the offline queue (queue.js) on Background Sync, where the browser has it; the pages also send it on
 *   load and on the `online` event, and the server stores each idempotency key once, so sending twice is harmless.
 * - Shows Web Push reminders sent by the worker.
 * The server fills in __VERSION__ (a hash of these files and the templates) and __SHELL__ (the URLs to keep).
 */
"use strict";
importScripts("/static/patient/queue.js?v=__VERSION__");

const VERSION = "__VERSION__";
const CACHE = `companion-${VERSION}`;
const SHELL = __SHELL__;
const PAGES = SHELL.filter((url) => !url.includes("."));

async function cacheShell() {
  const cache = await caches.open(CACHE);
  // One by one and forgiving: a page that needs a sign-in (a redirect) must not fail the whole install.
  await Promise.all(SHELL.map(async (url) => {
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.ok && !response.redirected) await cache.put(url, response);
    } catch (offline) { /* kept from the last time, if any */ }
  }));
}

self.addEventListener("install", (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("companion-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function isAppPage(path) {
  return PAGES.includes(path) || path.startsWith("/learn/");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // posts go to the network; the page queues them when that fails
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/") || url.pathname === "/sw.js") return;

  if (request.mode === "navigate") {
    if (!isAppPage(url.pathname)) return;
    event.respondWith((async () => {
      try {
        const response = await fetch(request);
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.pathname, copy)));
        }
        return response;
      } catch (offline) {
        return (await caches.match(url.pathname, { ignoreSearch: true })) || (await caches.match("/offline"))
          || Response.error();
      }
    })());
    return;
  }

  // The red-flag table is kept with the shell, network-first: the phone checks entries offline against the newest
  // copy it has seen (the server may change it without a new version of these files).
  if (url.pathname.startsWith("/static-data/")) {
    event.respondWith((async () => {
      try {
        const response = await fetch(request, { cache: "no-store" });
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(url.pathname, copy)));
        }
        return response;
      } catch (offline) {
        return (await caches.match(url.pathname, { ignoreSearch: true })) || Response.error();
      }
    })());
    return;
  }

  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith((async () => {
      const cached = await caches.match(request);
      if (cached) return cached;
      const response = await fetch(request);
      if (response.ok && url.searchParams.get("v") === VERSION) {
        const copy = response.clone();
        event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
      }
      return response;
    })());
  }
});

async function tellPages() {
  for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage({ type: "queue-changed" });
}

self.addEventListener("sync", (event) => {
  if (event.tag !== "send-entries") return;
  event.waitUntil((async () => {
    const patient = await CompanionQueue.getMeta("patient");
    if (!patient) return;
    const done = await CompanionQueue.flush(patient);
    await tellPages();
    if (!done) throw new Error("entries still waiting"); // the browser retries the sync later
  })());
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "refresh-shell") return;
  // A page tells us who is signed in and in which language; when that changed, fetch the shell pages again.
  event.waitUntil((async () => {
    if ((await CompanionQueue.getMeta("stamp")) === data.stamp) return;
    await cacheShell();
    await CompanionQueue.setMeta("stamp", data.stamp);
  })());
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (notJson) {
    message = { body: event.data.text() };
  }
  event.waitUntil(self.registration.showNotification(message.title || "Companion", {
    body: message.body || "",
    icon: "/static/patient/icons/icon-192.png",
    badge: "/static/patient/icons/icon-192.png",
    data: { url: message.url || "/today" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data.url || "/today", self.location.origin);
  event.waitUntil((async () => {
    for (const client of await self.clients.matchAll({ type: "window" })) {
      if (new URL(client.url).origin === target.origin) {
        await client.focus();
        return client.navigate(target.href);
      }
    }
    return self.clients.openWindow(target.href);
  })());
});
