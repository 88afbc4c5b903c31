// Render one MJML file N times with the official MJML (npm `mjml`, in-process) and print
// {"median_ms": ..., "runs": N, "bytes": ...} as JSON. Usage: node render_mjml.js <modules> <file.mjml> <N>
"use strict";
const fs = require("fs");
const path = require("path");
const [modules, file, runsArg] = process.argv.slice(2);
const mjml2html = require(path.join(modules, "mjml"));
const source = fs.readFileSync(file, "utf8");
const runs = parseInt(runsArg || "20", 10);

async function main() {
  let out = await mjml2html(source, { validationLevel: "soft" }); // warm-up (mjml 5: a Promise)
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    out = await mjml2html(source, { validationLevel: "soft" });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ median_ms: median, runs, bytes: Buffer.byteLength(out.html), errors: out.errors.length }));
}
main().catch((err) => { console.error(String(err)); process.exit(1); });
