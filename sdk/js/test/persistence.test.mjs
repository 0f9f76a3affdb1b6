// localStorage: unsent events survive a reload and are sent once; the stored list is bounded.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { RESEND_WINDOW, init } from "../dist/lakehouse.mjs";
import { Api, MemoryStorage, browser, settle } from "./env.mjs";

let env;
afterEach(() => env.restore());

const KEY = "lh:q:pk-1";
const tracker = (options = {}) =>
  init({ endpoint: "https://events.example/analytics", apiKey: "pk-1", batchSize: 50, ...options });
const stored = () => JSON.parse(env.localStorage.getItem(KEY) ?? '{"q":[],"d":0}');
/** The same browser after a reload: the same localStorage and sessionStorage, a fresh page. */
function reload() {
  const { localStorage, sessionStorage, clock } = env;
  env.restore();
  env = browser({ storage: localStorage });
  env.clock.now = clock.now;
  Object.defineProperty(globalThis, "sessionStorage", { value: sessionStorage, configurable: true });
}

test("events are stored as they are tracked and removed once acknowledged", async () => {
  env = browser();
  const t = tracker();
  const ids = [t.track("a"), t.track("b")];
  assert.deepEqual(stored().q.map((i) => i.e.event_id), ids);
  await t.flush();
  assert.equal(env.localStorage.getItem(KEY), null, "nothing is left behind");
});

test("events stored by a page that went away are sent after a reload, once, with their ids", async () => {
  env = browser();
  env.api.answer = () => Api.error(503, "unavailable", [], { "retry-after": "1" });
  const t = tracker();
  const ids = [t.track("a"), t.track("b"), t.track("c")];
  t.flush(); // never resolves while the api refuses
  await settle();
  assert.equal(env.api.requests.length, 1);

  reload();
  const again = tracker();
  await env.clock.advance(0);
  assert.equal(env.api.requests.length, 1, "the stored events go at once after the reload");
  assert.deepEqual(env.api.ids(0), ids);
  await again.flush();
  await env.clock.advance(60000);
  assert.equal(env.api.requests.length, 1, "and only once");
  assert.equal(env.localStorage.getItem(KEY), null);
});

test("a full queue drops the oldest, counts them (over reloads) and tells onDrop", async () => {
  env = browser();
  env.api.answer = () => {
    throw new TypeError("offline");
  };
  const dropped = [];
  const t = tracker({ maxQueue: 5, onDrop: (events) => dropped.push(...events.map((e) => e.event_id)) });
  const ids = Array.from({ length: 8 }, (_, i) => t.track("e", { i }));
  assert.deepEqual(stored().q.map((i) => i.e.event_id), ids.slice(3));
  assert.equal(stored().d, 3);
  assert.deepEqual(dropped, ids.slice(0, 3));
  assert.equal(t.stats().dropped, 3);
  assert.equal(t.stats().queued, 5);
  assert.match(env.warnings.join("\n"), /dropped 1 event\(s\): the queue is full/);

  reload();
  env.api.answer = () => Api.accepted();
  const again = tracker({ maxQueue: 5 });
  await again.flush();
  assert.deepEqual(env.api.ids(0), ids.slice(3));
  assert.equal(again.stats().dropped, 3, "the count outlives the page");
});

test("a full storage quota keeps the newest events that fit", async () => {
  env = browser({ storage: new MemoryStorage(3000) });
  env.api.answer = () => {
    throw new TypeError("offline");
  };
  const t = tracker();
  const ids = Array.from({ length: 30 }, () => t.track("e", { pad: "x".repeat(50) }));
  const kept = stored().q.map((i) => i.e.event_id);
  assert.ok(kept.length > 0 && kept.length < 30, `${kept.length} kept`);
  assert.deepEqual(kept, ids.slice(30 - kept.length), "the newest");
  assert.equal(t.stats().queued, 30, "memory still holds them all");
});

test("two tabs share the stored list: neither erases the other's events", async () => {
  env = browser();
  env.api.answer = () => {
    throw new TypeError("offline");
  };
  const a = tracker();
  const b = tracker();
  const fromA = a.track("a");
  const fromB = b.track("b");
  assert.deepEqual(stored().q.map((i) => i.e.event_id).sort(), [fromA, fromB].sort());
  env.api.answer = () => Api.accepted();
  await a.flush();
  assert.deepEqual(stored().q.map((i) => i.e.event_id), [fromB], "A's acknowledged event is gone, B's stays");
});

test("tabs together stay within maxQueue in storage: the other tab's oldest go first, counted", async () => {
  env = browser();
  env.api.answer = () => {
    throw new TypeError("offline");
  };
  const a = tracker({ maxQueue: 4 });
  const b = tracker({ maxQueue: 4 });
  const fromA = [a.track("a"), a.track("a"), a.track("a")];
  const fromB = [b.track("b"), b.track("b")];
  assert.deepEqual(stored().q.map((i) => i.e.event_id), [...fromA.slice(1), ...fromB]);
  assert.equal(stored().d, 1);
  assert.equal(b.stats().dropped, 1, "counted for the origin, whichever tab dropped it");
});

test("a sent event still unacknowledged 12 hours later is dropped at load, counted, not resent", async () => {
  env = browser();
  env.api.answer = () => Api.error(503, "unavailable");
  const t = tracker();
  const old = t.track("old");
  t.flush();
  await settle();
  env.clock.now += 1000;
  const unsent = t.track("never sent");

  env.clock.now += RESEND_WINDOW + 1;
  reload();
  const again = tracker();
  await again.flush();
  assert.deepEqual(env.api.ids(0), [unsent], "an event never sent is sent, however old");
  assert.ok(!env.api.requests.some((r) => r.body.batch.some((e) => e.event_id === old)));
  assert.equal(again.stats().dropped, 1);
});
