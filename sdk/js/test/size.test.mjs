// The size budget of the script a page loads: 5 KB minified and gzipped.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

const BUDGET = 5 * 1024;

test("the minified script is within 5 KB gzipped", () => {
  const script = readFileSync(new URL("../dist/lakehouse.min.js", import.meta.url));
  const gzipped = gzipSync(script, { level: 9 }).length;
  console.log(`sdk size: ${script.length} bytes minified, ${gzipped} bytes minified + gzipped (budget ${BUDGET})`);
  assert.ok(gzipped <= BUDGET, `${gzipped} bytes gzipped, over the budget of ${BUDGET}`);
});

test("the script tag build sets the global `lakehouse` with init", () => {
  const script = readFileSync(new URL("../dist/lakehouse.min.js", import.meta.url), "utf8");
  const scope = {};
  new Function("globalThis", `${script}; globalThis.lakehouse = lakehouse;`)(scope);
  assert.equal(typeof scope.lakehouse.init, "function");
});
