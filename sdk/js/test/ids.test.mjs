import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRetryAfter, retryDelay, uuidv7 } from "../dist/lakehouse.mjs";
import "./env.mjs";

test("event ids are UUIDv7 carrying their creation millisecond, all distinct", () => {
  const now = Date.UTC(2026, 11, 1, 9, 30, 15, 123);
  const ids = Array.from({ length: 1000 }, () => uuidv7(now));
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(parseInt(id.replace(/-/g, "").slice(0, 12), 16), now);
  }
  assert.equal(new Set(ids).size, 1000);
  assert.ok(uuidv7(now) < uuidv7(now + 1), "ids of later events sort after earlier ones");
});

test("the backoff doubles from a second up to the cap, with at most a quarter of jitter", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 8, 30].map((n) => retryDelay(n, null, 60000, 0)),
    [1000, 2000, 4000, 8000, 60000, 60000],
  );
  assert.equal(retryDelay(2, null, 60000, 1), 2500);
  for (let i = 0; i < 100; i++) {
    const wait = retryDelay(3, null, 60000);
    assert.ok(wait >= 4000 && wait <= 5000, `${wait}`);
  }
});

test("Retry-After is a floor: never sent again sooner than the api asked, even past the cap", () => {
  assert.equal(retryDelay(1, 5000, 60000, 0), 5000);
  assert.equal(retryDelay(1, 120000, 60000, 0), 120000);
  assert.equal(retryDelay(5, 1000, 60000, 0), 16000, "a short Retry-After does not undo the backoff");
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.UTC(2026, 11, 1, 9, 0, 0);
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter("0", now), 0);
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 09:00:07 GMT", now), 7000);
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(parseRetryAfter("soon", now), null);
});
