// Batching, sending and retrying: what reaches the api, when, and how often.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";
import { init } from "../dist/lakehouse.mjs";
import { Api, browser, settle } from "./env.mjs";

const ENDPOINT = "https://events.example/analytics";
let env;
beforeEach(() => (env = browser()));
afterEach(() => env.restore());

const tracker = (options = {}) =>
  init({ endpoint: ENDPOINT, apiKey: "pk-1", batchSize: 3, flushInterval: 2000, ...options });

test("an event gets its id and time when created, sent_at when sent", async () => {
  const t = tracker();
  const created = env.clock.now;
  const id = t.track("click", { button: "buy" }, { event_name: "buy", value: 12.5 });
  await env.clock.advance(2000);
  assert.equal(env.api.requests.length, 1);
  const { body } = env.api.requests[0];
  assert.deepEqual(Object.keys(body), ["batch", "sent_at"]);
  const [event] = body.batch;
  assert.equal(event.event_id, id);
  assert.equal(event.timestamp, new Date(created).toISOString());
  assert.equal(body.sent_at, new Date(created + 2000).toISOString());
  assert.equal(event.event_type, "click");
  assert.equal(event.event_name, "buy");
  assert.equal(event.value, 12.5);
  assert.deepEqual(event.properties, { button: "buy" });
  assert.equal(event.url, "https://shop.example/pricing?plan=pro");
  assert.ok(event.session_id);
  assert.equal(event.sent_at, undefined, "sent_at belongs to the request, set at each send");
});

test("events are batched by count: a full batch goes at once", async () => {
  const t = tracker();
  const ids = [t.track("a"), t.track("b")];
  await settle();
  assert.equal(env.api.requests.length, 0, "two of three: still waiting");
  ids.push(t.track("c"));
  await settle();
  assert.equal(env.api.requests.length, 1);
  assert.deepEqual(env.api.ids(0), ids);
});

test("events are batched by time: a partial batch goes after flushInterval", async () => {
  const t = tracker();
  const id = t.track("a");
  await env.clock.advance(1999);
  assert.equal(env.api.requests.length, 0);
  await env.clock.advance(1);
  assert.deepEqual(env.api.ids(0), [id]);
});

test("requests use fetch with keepalive, the key in a header, and no cookies", async () => {
  const t = tracker();
  t.track("a");
  await t.flush();
  const { url, init: request } = env.api.requests[0];
  assert.equal(url, ENDPOINT);
  assert.equal(request.method, "POST");
  assert.equal(request.keepalive, true);
  assert.equal(request.credentials, "omit");
  assert.equal(request.headers["x-api-key"], "pk-1");
  assert.equal(request.headers["content-type"], "application/json");
});

for (const [what, answer] of [
  ["503 with Retry-After", () => Api.error(503, "unavailable", [], { "retry-after": "5" })],
  ["429 with Retry-After", () => Api.error(429, "rate_limited", [], { "retry-after": "5" })],
  ["408 with Retry-After", () => Api.error(408, "request_timeout", [], { "retry-after": "5" })],
]) {
  test(`a ${what} is retried with the same event_ids, not before Retry-After`, async () => {
    const t = tracker();
    env.api.answer = answer;
    const ids = [t.track("a"), t.track("b"), t.track("c")];
    await settle();
    assert.equal(env.api.requests.length, 1);
    await env.clock.advance(4999);
    assert.equal(env.api.requests.length, 1, "nothing before the 5 s the api asked for");
    env.api.answer = () => Api.accepted();
    await env.clock.advance(1251);
    assert.equal(env.api.requests.length, 2);
    assert.deepEqual(env.api.ids(1), ids);
    assert.deepEqual(env.api.requests[1].body.batch, env.api.requests[0].body.batch, "the same events");
    assert.notEqual(env.api.requests[1].body.sent_at, env.api.requests[0].body.sent_at);
    assert.deepEqual(t.stats(), { queued: 0, dropped: 0, refused: 0, retries: 1 });
    await env.clock.advance(60000);
    assert.equal(env.api.requests.length, 2, "acknowledged events are not sent again");
  });
}

test("network errors are retried with exponential backoff, the same ids each time", async () => {
  const t = tracker();
  env.api.answer = () => {
    throw new TypeError("Failed to fetch");
  };
  const id = t.track("a");
  const done = t.flush();
  await settle();
  const times = [env.clock.now];
  for (let i = 0; i < 4; i++) {
    const before = env.api.requests.length;
    while (env.api.requests.length == before) await env.clock.advance(50);
    times.push(env.clock.now);
  }
  const gaps = times.slice(1).map((at, i) => at - times[i]);
  gaps.forEach((gap, i) => {
    const base = 1000 * 2 ** i;
    assert.ok(gap >= base && gap <= base * 1.25 + 50, `wait ${i + 1} was ${gap} ms, expected ${base}..${base * 1.25}`);
  });
  assert.ok(env.api.requests.every((_, n) => env.api.ids(n)[0] === id));
  env.api.answer = () => Api.accepted();
  let resolved = false;
  done.then(() => (resolved = true));
  await env.clock.advance(20000);
  assert.ok(resolved, "flush resolves once the events are acknowledged");
  assert.equal(t.stats().queued, 0);
});

test("other 5xx answers are retried too", async () => {
  const t = tracker();
  env.api.answer = () => Api.error(502, "bad_gateway");
  t.track("a");
  await env.clock.advance(2000);
  assert.equal(env.api.requests.length, 1);
  env.api.answer = () => Api.accepted();
  await env.clock.advance(1300);
  assert.equal(env.api.requests.length, 2);
  assert.equal(t.stats().queued, 0);
});

test("a 400 drops the batch with a warning naming the field, and is not retried", async () => {
  const dropped = [];
  const t = tracker({ onDrop: (events, reason) => dropped.push({ events, reason }) });
  env.api.answer = () =>
    Api.error(400, "invalid_events", [{ index: 0, field: "properties.step", error: "must be an integer of at least 1" }]);
  const id = t.step("checkout", 0);
  await t.flush();
  await env.clock.advance(120000);
  assert.equal(env.api.requests.length, 1, "not retried");
  assert.equal(t.stats().queued, 0);
  assert.equal(t.stats().refused, 1);
  assert.match(env.warnings.join("\n"), /properties\.step must be an integer of at least 1/);
  assert.match(env.warnings.join("\n"), /400 invalid_events/);
  assert.deepEqual(dropped[0].events.map((e) => e.event_id), [id]);
  assert.equal(env.localStorage.keys().length, 0, "nothing left stored");
});

for (const [status, code] of [
  [401, "invalid_api_key"],
  [403, "revoked_api_key"],
  [413, "too_many_events"],
  [415, "unsupported_media_type"],
]) {
  test(`a ${status} ${code} drops the batch with a warning, not retried`, async () => {
    const t = tracker();
    env.api.answer = () => Api.error(status, code);
    t.track("a");
    await t.flush();
    await env.clock.advance(120000);
    assert.equal(env.api.requests.length, 1);
    assert.match(env.warnings.join("\n"), new RegExp(`${status} ${code}`));
  });
}

test("events a 202 rejects are reported by field and not retried; the rest are done", async () => {
  const dropped = [];
  const t = tracker({ onDrop: (events, reason) => dropped.push({ events, reason }) });
  env.api.answer = () => Api.accepted([{ index: 1, field: "event_type", error: "must match ^[a-z][a-z0-9_]{0,63}$" }]);
  const ids = [t.track("ok"), t.track("Not OK"), t.track("fine")];
  await t.flush();
  await env.clock.advance(120000);
  assert.equal(env.api.requests.length, 1);
  assert.deepEqual(dropped[0].events.map((e) => e.event_id), [ids[1]]);
  assert.match(dropped[0].reason, /event 1: event_type must match/);
  assert.match(env.warnings.join("\n"), /event_type must match/);
  assert.deepEqual(t.stats(), { queued: 0, dropped: 0, refused: 1, retries: 0 });
});

test("events tracked while a batch is in flight go in the next one, each once", async () => {
  const t = tracker();
  let release;
  env.api.answer = () => new Promise((resolve) => (release = () => resolve(Api.accepted())));
  const first = [t.track("a"), t.track("b"), t.track("c")];
  await settle();
  const second = [t.track("d"), t.track("e")];
  release();
  await settle();
  assert.equal(env.api.requests.length, 2, "the rest goes as soon as the first batch is answered");
  release();
  await settle();
  assert.deepEqual(env.api.ids(0), first);
  assert.deepEqual(env.api.ids(1), second);
  assert.equal(t.stats().queued, 0);
});

test("a body over 1 KiB is gzipped where CompressionStream exists; small ones are not", async () => {
  const t = tracker({ batchSize: 50 });
  t.track("small");
  await t.flush();
  assert.equal(env.api.requests[0].gzipped, false);
  const ids = Array.from({ length: 20 }, (_, i) => t.track("big", { text: "x".repeat(100), i }));
  await t.flush();
  const request = env.api.requests[1];
  assert.equal(request.gzipped, true);
  assert.ok(request.init.body.byteLength < JSON.stringify(request.body).length / 3);
  assert.deepEqual(env.api.ids(1), ids, "the inflated body is the batch");
});

test("gzip: false sends plain JSON", async () => {
  const t = tracker({ batchSize: 50, gzip: false });
  Array.from({ length: 20 }, () => t.track("big", { text: "x".repeat(100) }));
  await t.flush();
  assert.equal(env.api.requests[0].gzipped, false);
});

test("a batch stays under the keepalive limit: big events split into several requests", async () => {
  const t = tracker({ batchSize: 50, gzip: false });
  const ids = Array.from({ length: 10 }, () => t.track("big", { text: "x".repeat(20000) }));
  await t.flush();
  assert.ok(env.api.requests.length >= 4, `${env.api.requests.length} requests`);
  assert.ok(env.api.requests.every((r) => r.init.body.length <= 60000 && r.init.keepalive));
  assert.deepEqual(env.api.requests.flatMap((_, n) => env.api.ids(n)), ids);
});

test("page() and step() fill the contract's fields", async () => {
  const t = tracker();
  t.page({ section: "plans" });
  t.step("checkout", 2, { plan: "pro" });
  await t.flush();
  const [page, step] = env.api.requests[0].body.batch;
  assert.equal(page.event_type, "page_view");
  assert.equal(page.url, "https://shop.example/pricing?plan=pro");
  assert.equal(page.referrer, "https://search.example/?q=lakehouse");
  assert.equal(page.title, "Pricing");
  assert.deepEqual(page.properties, { section: "plans" });
  assert.equal(step.event_type, "funnel_step");
  assert.deepEqual(step.properties, { plan: "pro", funnel: "checkout", step: 2 });
});
