// A fake browser for the unit tests: Web Storage, navigator.sendBeacon, window and document
// events, a controllable clock and timers, and a scripted api behind fetch.
import { webcrypto } from "node:crypto";
import { gunzipSync } from "node:zlib";

// Node 18 (Debian's) has Web Crypto only as a module; browsers and Node 20+ have the global.
globalThis.crypto ??= webcrypto;

export class MemoryStorage {
  constructor(quota = Infinity) {
    this.map = new Map();
    this.quota = quota;
  }
  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }
  setItem(key, value) {
    const used = [...this.map].reduce((n, [k, v]) => n + (k === key ? 0 : v.length), 0);
    if (used + String(value).length > this.quota) throw new Error("QuotaExceededError");
    this.map.set(key, String(value));
  }
  removeItem(key) {
    this.map.delete(key);
  }
  keys() {
    return [...this.map.keys()];
  }
}

/** Lets promise chains and stream pipes (gzip) run to completion. */
export async function settle() {
  for (let i = 0; i < 30; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Fake time: Date.now, setTimeout and clearTimeout, advanced only by `advance`. */
export class Clock {
  constructor(now = Date.UTC(2026, 11, 1, 9, 0, 0)) {
    this.now = now;
    this.timers = new Map();
    this.next = 1;
  }
  install() {
    this.saved = { setTimeout, clearTimeout, now: Date.now };
    globalThis.setTimeout = (fn, ms = 0) => {
      const id = this.next++;
      this.timers.set(id, { at: this.now + ms, fn });
      return id;
    };
    globalThis.clearTimeout = (id) => this.timers.delete(id);
    Date.now = () => this.now;
  }
  uninstall() {
    globalThis.setTimeout = this.saved.setTimeout;
    globalThis.clearTimeout = this.saved.clearTimeout;
    Date.now = this.saved.now;
  }
  /** Moves time forward by `ms`, running each timer due on the way at its own moment. */
  async advance(ms) {
    const end = this.now + ms;
    await settle();
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await settle();
    }
    this.now = end;
    await settle();
  }
}

/** The api behind fetch: answers each request with `answer(request)` (a Response, or a thrown
 *  error for a network failure) and records what was sent. */
export class Api {
  constructor() {
    this.requests = [];
    this.answer = () => Api.accepted();
  }
  static accepted(rejected = []) {
    return new Response(JSON.stringify({ accepted: 1, rejected }), { status: 202 });
  }
  static error(status, code, details = [], headers = {}) {
    return new Response(JSON.stringify({ error: { code, message: `${code} happened`, details } }), {
      status,
      headers,
    });
  }
  fetch = async (url, init) => {
    const raw = init.body;
    const gzipped = init.headers["content-encoding"] === "gzip";
    const text = gzipped ? gunzipSync(Buffer.from(raw)).toString() : raw;
    const request = { url, init, gzipped, body: JSON.parse(text) };
    this.requests.push(request);
    return this.answer(request);
  };
  /** The event ids of request `n`. */
  ids(n) {
    return this.requests[n].body.batch.map((e) => e.event_id);
  }
}

/** Installs a fresh fake browser; returns its parts. */
export function browser({ dnt, gpc, storage = new MemoryStorage() } = {}) {
  const clock = new Clock();
  clock.install();
  const api = new Api();
  const win = new EventTarget();
  const document = Object.assign(new EventTarget(), {
    visibilityState: "visible",
    title: "Pricing",
    referrer: "https://search.example/?q=lakehouse",
  });
  Object.defineProperty(document, "cookie", {
    get: () => "",
    set: () => {
      throw new Error("the SDK must not set cookies");
    },
  });
  const beacons = [];
  const env = {
    clock,
    api,
    win,
    document,
    beacons,
    localStorage: storage,
    sessionStorage: new MemoryStorage(),
    beaconAccepts: true,
    warnings: [],
  };
  const navigator = {
    doNotTrack: dnt ? "1" : null,
    globalPrivacyControl: !!gpc,
    sendBeacon: (url, data) => {
      if (!env.beaconAccepts) return false;
      beacons.push({ url, data, body: JSON.parse(data) });
      return true;
    },
  };
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  define("localStorage", env.localStorage);
  define("sessionStorage", env.sessionStorage);
  define("navigator", navigator);
  define("document", document);
  define("location", { href: "https://shop.example/pricing?plan=pro" });
  define("addEventListener", win.addEventListener.bind(win));
  define("fetch", api.fetch);
  env.saved = { warn: console.warn, fetch: globalThis.fetch };
  console.warn = (...args) => env.warnings.push(args.join(" "));
  env.restore = () => {
    clock.uninstall();
    console.warn = env.saved.warn;
    for (const name of ["localStorage", "sessionStorage", "navigator", "document", "location", "addEventListener"]) {
      delete globalThis[name];
    }
    define("fetch", env.saved.fetch);
  };
  /** The page goes away. */
  env.pagehide = () => win.dispatchEvent(new Event("pagehide"));
  env.hide = () => {
    document.visibilityState = "hidden";
    document.dispatchEvent(new Event("visibilitychange"));
  };
  return env;
}
