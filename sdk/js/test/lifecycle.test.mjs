// Leaving the page: the queue goes out by sendBeacon, and stays stored until a fetch is answered.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { init } from "../dist/lakehouse.mjs";
import { Api, browser, settle } from "./env.mjs";

let env;
beforeEach(() => (env = browser()));
afterEach(() => env.restore());

const tracker = (options = {}) =>
  init({ endpoint: "https://events.example/analytics", apiKey: "pk 1", batchSize: 50, flushInterval: 60000, ...options });

test("pagehide sends the queue by beacon: text/plain, the key in the query, the same ids", async () => {
  const t = tracker();
  const ids = [t.page(), t.track("click")];
  env.pagehide();
  assert.equal(env.api.requests.length, 0);
  assert.equal(env.beacons.length, 1);
  const [b] = env.beacons;
  assert.equal(b.url, "https://events.example/analytics?api_key=pk%201");
  assert.equal(typeof b.data, "string", "a string body: the browser sends it as text/plain");
  assert.deepEqual(b.body.batch.map((e) => e.event_id), ids);
  assert.equal(b.body.sent_at, new Date(env.clock.now).toISOString());
});

test("a hidden page beacons too; the events stay stored until a fetch is acknowledged", async () => {
  const t = tracker();
  const id = t.track("click");
  env.hide();
  assert.deepEqual(env.beacons[0].body.batch.map((e) => e.event_id), [id]);
  assert.equal(JSON.parse(env.localStorage.getItem("lh:q:pk 1")).q.length, 1);
  await t.flush();
  assert.deepEqual(env.api.ids(0), [id], "sent again: a beacon's arrival is never known");
  assert.equal(env.localStorage.getItem("lh:q:pk 1"), null);
});

test("a beacon the browser refuses leaves the events for the next page", async () => {
  env.beaconAccepts = false;
  const t = tracker();
  const id = t.track("click");
  env.pagehide();
  assert.equal(env.beacons.length, 0);
  assert.equal(JSON.parse(env.localStorage.getItem("lh:q:pk 1")).q[0].e.event_id, id);
});

test("beacons stay under the 64 KiB the browser allows a page", async () => {
  const t = tracker();
  const ids = Array.from({ length: 12 }, () => t.track("big", { text: "x".repeat(15000) }));
  env.pagehide();
  assert.ok(env.beacons.length >= 3);
  assert.ok(env.beacons.every((b) => Buffer.byteLength(b.data) <= 60000));
  assert.deepEqual(env.beacons.flatMap((b) => b.body.batch.map((e) => e.event_id)), ids);
});

test("events in flight when the page goes away are beaconed as well", async () => {
  env.api.answer = () => new Promise(() => {});
  const t = tracker();
  const id = t.track("click");
  t.flush();
  await settle();
  assert.equal(env.api.requests.length, 1);
  env.pagehide();
  assert.deepEqual(env.beacons[0].body.batch.map((e) => e.event_id), [id]);
});

test("flush resolves at once when nothing is queued", async () => {
  const t = tracker();
  await t.flush();
  assert.equal(env.api.requests.length, 0);
});

void Api;
