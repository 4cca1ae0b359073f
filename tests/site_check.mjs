// Read the built site in a real browser, as an offline reader would, and report what is wrong.
//
// Usage: node tests/site_check.mjs CONFIG.json
// CONFIG: {"base": "http://127.0.0.1:PORT/", "pages": ["chapters/intro.html", ...],
//          "search": "Chinchilla", "chromium": "/usr/bin/chromium", "playwright": "<module dir>",
//          "width": 1400, "height": 900}
// Prints one JSON object on stdout: per page, the console errors, requests that left 127.0.0.1
// (all are blocked), failed local requests, math that MathJax did not render or rendered as an
// error, raw LaTeX in the visible text outside code, images not loaded or of zero width, and
// tables/figures/display math wider than the content column; and the search page's result count.
// Launched with Debian's Chromium (no downloaded browser) through playwright-core.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(path.join(config.playwright, "noop.js"));
const { chromium } = require("playwright-core");

const LOCAL_HOSTS = new Set(["127.0.0.1"]);
const SETTLE_MS = 15000;

function isLocal(url) {
  if (/^(data|blob|about):/.test(url)) return true;
  try {
    return LOCAL_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

// Runs in the page: everything measured from the DOM once math and images have settled.
function inspectPage() {
  const column =
    document.querySelector("article.bd-article") ||
    document.querySelector("main") ||
    document.body;
  const columnWidth = column.clientWidth;
  const hiddenAncestor =
    "pre, code, script, style, textarea, mjx-container, mjx-assistive-mml, .MathJax, .highlight";
  const visible = (element) => {
    if (!element) return false;
    // folded content (a closed <details>) is not shown, though Chromium still lays it out
    const folded = element.closest("details:not([open])");
    if (folded && !element.closest("summary")) return false;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden" || style.display === "none") return false;
    return element.getClientRects().length > 0;
  };
  // Raw LaTeX: text nodes outside code and rendered math that still look like TeX.
  const tex =
    /\\\(|\\\)|\\\[|\\\]|\$\$|\\(?:frac|mathrm|text|alpha|beta|gamma|sum|int|times|cdot|propto|sqrt|log|approx|le|ge|mathcal|operatorname)(?![A-Za-z])/;
  const rawLatex = [];
  const walker = document.createTreeWalker(column, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(hiddenAncestor) || !visible(parent)) continue;
    const match = node.textContent.match(tex);
    if (match) {
      const at = match.index;
      rawLatex.push(node.textContent.slice(Math.max(0, at - 40), at + 60).trim());
    }
  }
  const mathSpans = [...column.querySelectorAll("span.math, div.math")];
  const unrenderedMath = mathSpans.filter((m) => !m.querySelector("mjx-container")).length;
  const mathErrors = [...column.querySelectorAll("mjx-merror, [data-mjx-error]")].map(
    (e) => e.getAttribute("data-mjx-error") || e.textContent.slice(0, 80),
  );
  const images = [...document.querySelectorAll("img")].map((img) => ({
    src: img.getAttribute("src"),
    alt: img.getAttribute("alt") || "",
    complete: img.complete,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
    width: img.getBoundingClientRect().width,
    visible: visible(img),
  }));
  const badImages = images.filter(
    (i) => i.visible && (!i.complete || i.naturalWidth === 0 || i.width === 0),
  );
  const wide = [];
  const candidates = column.querySelectorAll(
    "table, figure, img, .cell_output .output img, mjx-container[display='true'], svg",
  );
  for (const element of candidates) {
    if (!visible(element) || element.closest("mjx-container svg")) continue;
    const width = Math.max(element.getBoundingClientRect().width, element.scrollWidth || 0);
    if (width > columnWidth + 1) {
      const heading = element.closest("section")?.querySelector("h1, h2, h3");
      wide.push({
        kind: element.tagName.toLowerCase(),
        width: Math.round(width),
        column: columnWidth,
        section: heading ? heading.textContent.replace("#", "").trim() : "",
      });
    }
  }
  const timing = performance.getEntriesByType("navigation")[0];
  return {
    title: document.title,
    columnWidth,
    mathCount: mathSpans.length,
    renderedMath: column.querySelectorAll("mjx-container").length,
    unrenderedMath,
    mathErrors,
    rawLatex,
    images,
    badImages,
    wide,
    domContentLoadedMs: timing ? Math.round(timing.domContentLoadedEventEnd) : null,
  };
}

async function settleMath(page) {
  // MathJax 3 exposes startup.promise once loaded; a CDN that never answers leaves it absent.
  await page
    .waitForFunction(() => !document.querySelector("span.math, div.math") || window.MathJax?.startup?.promise, null, {
      timeout: SETTLE_MS,
    })
    .catch(() => {});
  await page
    .evaluate(() => Promise.race([
      window.MathJax?.startup?.promise ?? Promise.resolve(),
      new Promise((resolve) => setTimeout(resolve, 10000)),
    ]))
    .catch(() => {});
}

async function settleImages(page) {
  await page.evaluate(async () => {
    const images = [...document.querySelectorAll("img")];
    for (const img of images) img.loading = "eager";
    await Promise.race([
      Promise.all(images.map((img) => (img.complete ? null : img.decode().catch(() => null)))),
      new Promise((resolve) => setTimeout(resolve, 10000)),
    ]);
  });
}

async function visit(browser, url, onPage) {
  const context = await browser.newContext({
    viewport: { width: config.width || 1400, height: config.height || 900 },
    deviceScaleFactor: 1,
    serviceWorkers: "block",
  });
  const record = { url, consoleErrors: [], external: [], failed: [] };
  await context.route("**/*", (route) => {
    const target = route.request().url();
    if (isLocal(target)) return route.continue();
    record.external.push(target);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") record.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => record.consoleErrors.push(`pageerror: ${error.message}`));
  page.on("requestfailed", (request) => {
    if (isLocal(request.url())) {
      record.failed.push(`${request.url()} (${request.failure()?.errorText})`);
    }
  });
  page.on("response", (response) => {
    if (response.status() >= 400) record.failed.push(`${response.url()} (${response.status()})`);
  });
  try {
    await page.goto(url, { waitUntil: "load", timeout: 30000 });
    await page.waitForLoadState("networkidle", { timeout: SETTLE_MS }).catch(() => {});
    Object.assign(record, await onPage(page));
  } catch (error) {
    record.consoleErrors.push(`navigation: ${error.message}`);
  } finally {
    await context.close();
  }
  return record;
}

const browser = await chromium.launch({
  executablePath: config.chromium || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  headless: true,
});
const report = { pages: [], search: null };
try {
  for (const pagePath of config.pages) {
    const record = await visit(browser, new URL(pagePath, config.base).href, async (page) => {
      await settleMath(page);
      await settleImages(page);
      return page.evaluate(inspectPage);
    });
    report.pages.push({ page: pagePath, ...record });
  }
  if (config.search) {
    const url = new URL(`search.html?q=${encodeURIComponent(config.search)}`, config.base).href;
    report.search = await visit(browser, url, async (page) => {
      const results = page.locator("#search-results ul.search li");
      await results.first().waitFor({ timeout: SETTLE_MS }).catch(() => {});
      // results arrive one by one; wait for the summary line that ends the search
      await page
        .waitForFunction(() => /found|did not match/i.test(document.querySelector("#search-results p")?.textContent || ""), null, { timeout: SETTLE_MS })
        .catch(() => {});
      return {
        query: config.search,
        results: await results.count(),
        titles: await results.locator("a").first().allTextContents().catch(() => []),
      };
    });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
