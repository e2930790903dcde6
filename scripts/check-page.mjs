// Renders the retention page in a real headless Chromium and checks what a person
// would notice, then saves a screenshot:
//   node scripts/check-page.mjs URL SCREENSHOT.png
// Needs Debian's chromium (/usr/bin/chromium, or $CHROMIUM) and the npm package
// playwright-core (found through NODE_PATH). Exit 0: the page looks right.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: check-page.mjs URL SCREENSHOT.png");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on("dialog", (d) => {
    problems.push(`a script ran and opened a dialog: ${d.message()}`);
    d.dismiss();
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const response = await page.goto(url, { waitUntil: "load" });
  if (url.startsWith("http") && !(response.headers()["content-security-policy"] || "").includes("default-src 'none'")) {
    problems.push("no Content-Security-Policy");
  }
  const report = await page.evaluate(() => {
    const out = { svgs: 0, marks: 0, fills: {}, issues: [] };
    const inside = (inner, outer, slack = 0.5) =>
      inner.left >= outer.left - slack &&
      inner.right <= outer.right + slack &&
      inner.top >= outer.top - slack &&
      inner.bottom <= outer.bottom + slack;
    for (const svg of document.querySelectorAll("svg.timeline")) {
      out.svgs++;
      const box = svg.getBoundingClientRect();
      if (box.width < 100 || box.height < 20) out.issues.push(`an SVG of ${box.width}x${box.height}`);
      const axis = svg.querySelector("line.axis");
      const a = axis && axis.getBoundingClientRect();
      for (const mark of svg.querySelectorAll("circle.mark")) {
        out.marks++;
        const m = mark.getBoundingClientRect();
        if (!inside(m, box)) out.issues.push(`a mark outside its SVG at ${m.left},${m.top}`);
        const cx = m.left + m.width / 2;
        if (a && (cx < a.left - 0.5 || cx > a.right + 0.5)) out.issues.push(`a mark off the axis at x=${cx}`);
        const fate = [...mark.classList].find((c) => c !== "mark");
        const fill = getComputedStyle(mark).fill;
        (out.fills[fate] ||= new Set()).add(fill);
        if (!mark.querySelector("title")?.textContent) out.issues.push("a mark without a title");
      }
      for (const text of svg.querySelectorAll("text")) {
        if (!inside(text.getBoundingClientRect(), box)) {
          out.issues.push(`text overflows its SVG: ${JSON.stringify(text.textContent)}`);
        }
      }
    }
    for (const el of document.querySelectorAll("figcaption, h1, h2, td")) {
      if (el.scrollWidth > el.clientWidth + 1) out.issues.push(`text overflows a ${el.tagName}`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth + 1) out.issues.push("the page scrolls sideways");
    const byFate = Object.fromEntries(Object.entries(out.fills).map(([k, v]) => [k, [...v]]));
    out.fills = byFate;
    return out;
  });
  problems.push(...report.issues);
  if (report.svgs === 0) problems.push("no timeline on the page");
  if (report.marks === 0) problems.push("no backup on the timeline");
  const fates = Object.keys(report.fills);
  const colours = new Set(Object.values(report.fills).flat());
  for (const [fate, fills] of Object.entries(report.fills)) {
    if (fills.length !== 1) problems.push(`fate ${fate} drawn in ${fills.length} colours`);
  }
  if (colours.size !== fates.length) problems.push(`${fates.length} fates share ${colours.size} colours`);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(
    `${report.svgs} timeline(s), ${report.marks} marks, fates ${fates.join(", ")} in ${colours.size} colours; ` +
      `screenshot ${screenshot}`
  );
} finally {
  await browser.close();
}
if (problems.length) {
  for (const p of problems) console.error(`problem: ${p}`);
  process.exit(1);
}
