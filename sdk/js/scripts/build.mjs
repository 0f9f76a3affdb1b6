// Builds dist/: an ES module for bundlers and Node, a minified script that sets the global
// `lakehouse` for a <script> tag, and the type declarations.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist", { recursive: true, force: true });
const common = { entryPoints: ["src/index.ts"], bundle: true, target: "es2020", legalComments: "none" };
await build({ ...common, format: "esm", outfile: "dist/lakehouse.mjs" });
await build({ ...common, format: "iife", globalName: "lakehouse", minify: true, outfile: "dist/lakehouse.min.js" });
execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "--emitDeclarationOnly"], { stdio: "inherit" });
