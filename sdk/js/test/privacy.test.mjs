// Privacy defaults: no cookies, no identifier that outlives the tab, sessions that rotate when
// idle, and Do Not Track / Global Privacy Control honoured when asked to.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { init } from "../dist/lakehouse.mjs";
import { browser } from "./env.mjs";

let env;
afterEach(() => env.restore());

const tracker = (options = {}) => init({ endpoint: "https://events.example/analytics", apiKey: "pk-1", ...options });
const sent = () => env.api.requests.flatMap((r) => r.body.batch);

test("the session id lives in sessionStorage; nothing identifying is left in localStorage", async () => {
  env = browser();
  const t = tracker();
  t.track("a");
  await t.flush();
  const session = JSON.parse(env.sessionStorage.getItem("lh:s"));
  assert.equal(session.i, sent()[0].session_id);
  assert.deepEqual(env.localStorage.keys(), [], "no persistent id, and the delivered queue is gone");
  // document.cookie throws in the fake browser if set: reaching here means no cookie was written.
});

test("the session rotates after 30 idle minutes, and not before", async () => {
  env = browser();
  const t = tracker();
  t.track("a");
  env.clock.now += 29 * 60e3;
  t.track("b");
  env.clock.now += 30 * 60e3 + 1;
  t.track("c");
  await t.flush();
  const [a, b, c] = sent().map((e) => e.session_id);
  assert.equal(a, b, "29 minutes apart: the same session");
  assert.notEqual(b, c, "more than 30 minutes idle: a new session");
});

test("a reload in the same tab keeps the session; sessionTimeout is configurable", async () => {
  env = browser();
  tracker({ sessionTimeout: 1000 }).track("a");
  const first = JSON.parse(env.sessionStorage.getItem("lh:s")).i;
  const t = tracker({ sessionTimeout: 1000 });
  t.track("b");
  env.clock.now += 1001;
  t.track("c");
  await t.flush();
  const ids = sent().map((e) => e.session_id);
  assert.deepEqual(ids.slice(0, 2), [first, first]);
  assert.notEqual(ids[2], first);
});

test("identify attaches the user id; reset forgets it and starts a new session", async () => {
  env = browser();
  const t = tracker();
  t.track("anonymous");
  t.identify("user-42");
  t.track("known");
  t.reset();
  t.track("after logout");
  await t.flush();
  const [anonymous, known, after] = sent();
  assert.equal(anonymous.user_id, undefined);
  assert.equal(known.user_id, "user-42");
  assert.equal(known.session_id, anonymous.session_id, "identify keeps the session");
  assert.equal(after.user_id, undefined);
  assert.notEqual(after.session_id, known.session_id);
});

for (const [what, signal] of [
  ["Do Not Track", { dnt: true }],
  ["Global Privacy Control", { gpc: true }],
]) {
  test(`with honorDnt, ${what} means nothing is tracked, stored or sent`, async () => {
    env = browser(signal);
    const t = tracker({ honorDnt: true });
    assert.equal(t.track("a"), undefined);
    assert.equal(t.page(), undefined);
    await t.flush();
    assert.equal(env.api.requests.length, 0);
    assert.deepEqual(env.localStorage.keys(), []);
    assert.deepEqual(env.sessionStorage.keys(), []);
  });

  test(`without honorDnt, ${what} is left to the api's PRIVACY_POLICY`, async () => {
    env = browser(signal);
    const t = tracker();
    assert.ok(t.track("a"));
    await t.flush();
    assert.equal(env.api.requests.length, 1);
  });
}

test("without a browser (Node), events are queued in memory and sent", async () => {
  env = browser();
  for (const name of ["localStorage", "sessionStorage", "document", "location", "navigator", "addEventListener"]) {
    delete globalThis[name];
  }
  const t = tracker();
  const id = t.track("server_side");
  await t.flush();
  assert.deepEqual(env.api.ids(0), [id]);
  assert.equal(sent()[0].url, undefined);
});
