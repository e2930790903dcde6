// Renders the retention page in a real headless Chromium at 1280 px and checks what a
// person would notice (nothing overflows, text readable and with enough contrast,
// every portal's sentence of what can be restored), then saves a screenshot:
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
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("dialog", (d) => {
    problems.push(`a script ran and opened a dialog: ${d.message()}`);
    d.dismiss();
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const response = await page.goto(url, { waitUntil: "load" });
  const bytes = (await response.body()).length;
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
    // Contrast (WCAG AA, 4.5:1 for text) and size: every element with text of its own.
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
        if (e instanceof SVGElement && e.tagName !== "svg") continue;
        const [r, g, b, a = 1] = rgb(getComputedStyle(e).backgroundColor);
        if (a > 0) return [r, g, b];
      }
      return [255, 255, 255];
    };
    out.texts = 0;
    out.worstContrast = 21;
    out.smallestFont = 100;
    for (const el of document.querySelectorAll("body *")) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || el.closest("title, style")) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      out.texts++;
      const style = getComputedStyle(el);
      const colour = rgb(el instanceof SVGElement ? style.fill : style.color);
      const [l1, l2] = [lum(colour), lum(background(el))].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      out.worstContrast = Math.min(out.worstContrast, ratio);
      if (ratio < 4.5) out.issues.push(`contrast ${ratio.toFixed(2)}:1 for ${JSON.stringify(el.textContent.slice(0, 40))}`);
      // SVG text is scaled with its drawing.
      let px = parseFloat(style.fontSize);
      const svg = el.closest("svg");
      if (svg && svg.viewBox.baseVal && svg.viewBox.baseVal.width) {
        px *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      }
      out.smallestFont = Math.min(out.smallestFont, px);
      if (px < 10.5) out.issues.push(`text of ${px.toFixed(1)}px: ${JSON.stringify(el.textContent.slice(0, 40))}`);
    }
    // Every portal drawn says what can be restored; so does every index row with a pass.
    out.sections = document.querySelectorAll("section").length;
    out.coverage = 0;
    for (const section of document.querySelectorAll("section")) {
      const sentence = section.querySelector("p.coverage");
      if (section.querySelector("svg circle") && !sentence?.textContent.startsWith("Restorable:")) {
        out.issues.push(`no sentence of what can be restored under ${section.id}`);
      }
      if (sentence) out.coverage++;
    }
    for (const row of document.querySelectorAll("tbody tr")) {
      const passed = row.children[1]?.textContent !== "not yet";
      const cell = row.querySelector("td.coverage");
      if (passed && !cell?.textContent.trim()) out.issues.push(`index row without what can be restored: ${row.textContent.slice(0, 40)}`);
      if (cell?.textContent.trim()) out.coverage++;
    }
    const byFate = Object.fromEntries(Object.entries(out.fills).map(([k, v]) => [k, [...v]]));
    out.fills = byFate;
    return out;
  });
  problems.push(...report.issues);
  const indexed = await page.locator("tbody tr").count();
  if (report.svgs === 0 && indexed === 0) problems.push("neither a timeline nor an index on the page");
  if (report.svgs > 0 && report.marks === 0) problems.push("no backup on the timeline");
  if (report.coverage === 0) problems.push("no sentence of what can be restored");
  const fates = Object.keys(report.fills);
  const colours = new Set(Object.values(report.fills).flat());
  for (const [fate, fills] of Object.entries(report.fills)) {
    if (fills.length !== 1) problems.push(`fate ${fate} drawn in ${fills.length} colours`);
  }
  if (colours.size !== fates.length) problems.push(`${fates.length} fates share ${colours.size} colours`);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(
    `${bytes} bytes, ${report.svgs} timeline(s), ${report.marks} marks, ${indexed} index rows, ` +
      `${report.coverage} coverage sentences, fates ${fates.join(", ")} in ${colours.size} colours, ` +
      `${report.texts} texts (worst contrast ${report.worstContrast.toFixed(2)}:1, smallest ${report.smallestFont.toFixed(1)}px); ` +
      `screenshot ${screenshot}`
  );
} finally {
  await browser.close();
}
if (problems.length) {
  for (const p of problems) console.error(`problem: ${p}`);
  process.exit(1);
}
