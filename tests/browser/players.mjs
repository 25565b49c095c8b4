// Drives headless Chromium through the storyboard pages like a viewer: load the page, hover the seek
// bar at given times, and report what the player shows. Assertions live in the Python test
// (test_storyboard_players.py); this script only observes.
//
// stdin: {"chromium": path, "profile": dir, "timeout_ms": n, "hover_times": [s, ...], "scrub_time": s,
//         "pages": {"track": url, "plyr": url, "videojs": url, "preview": url}} (any of them)
// stdout: {"track": {...}, ...} for the pages asked, each with the page's network log, failed requests and
// console errors beside what it showed.
import { chromium } from "playwright-core";

// The flags the project's docs name for headless Chromium on a server.
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // Loopback only: a page that reached for anything else would fail the test rather than leave the machine.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

const spec = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (chunk) => (data += chunk));
  process.stdin.on("end", () => resolve(data));
}));

// Each page's responses still being read (their headers come asynchronously): `close` waits for them, so
// a response that arrived before the checks ended is logged even when the page is closed right after.
const reading = new WeakMap();

function observe(page) {
  const log = { responses: [], failures: [], console: [] };
  reading.set(page, new Set());
  page.on("response", (response) => {
    const read = logResponse(page, log, response);
    reading.get(page).add(read);
    // a failed read stays in the set, so that `close` raises its error
    read.then(() => reading.get(page).delete(read), () => {});
  });
  page.on("requestfailed", (request) =>
    log.failures.push({ url: request.url(), type: request.resourceType(), error: request.failure()?.errorText }),
  );
  page.on("console", (message) => {
    if (message.type() === "error") log.console.push(message.text());
  });
  page.on("pageerror", (error) => log.console.push(String(error)));
  return log;
}

async function close(page) {
  // bounded: a response whose headers never come (a media read the page cancelled) must not hold the run
  let timer;
  const settled = new Promise((resolve) => (timer = setTimeout(resolve, 5000)));
  await Promise.race([Promise.all(reading.get(page)), settled]);
  clearTimeout(timer);
  await page.close();
}

async function logResponse(page, log, response) {
  const request = response.request();
  let origin, headers;
  try {
    origin = (await request.allHeaders())["origin"] ?? null;
    headers = await response.allHeaders();
  } catch (error) {
    // A response still arriving as the page closes: its headers can no longer be read, and every check
    // of this page is done by then. Anything else is a real failure.
    if (page.isClosed() || String(error).includes("has been closed")) return;
    throw error;
  }
  log.responses.push({
    url: response.url(),
    status: response.status(),
    method: request.method(),
    type: request.resourceType(),
    origin,
    headers,
  });
}

async function open(context, url) {
  const page = await context.newPage();
  const log = observe(page);
  await page.goto(url, { waitUntil: "load" });
  return { page, log };
}

async function track(context, url) {
  const { page, log } = await open(context, url);
  const cues = await page.evaluate(() => window.storyboard);
  await close(page);
  return { cues, ...log };
}

// Moves the mouse onto `bar` at the point standing for `time` (of `duration`), as a viewer would. It comes
// down from the picture above: sliding along the control bar would open the volume slider on the way,
// which pushes the seek bar aside.
async function hoverAt(page, bar, time, duration) {
  const at = (box) => box.x + (box.width * time) / duration;
  let box = await page.locator(bar).boundingBox();
  await page.mouse.move(at(box), box.y - 60, { steps: 2 });
  box = await page.locator(bar).boundingBox();
  await page.mouse.move(at(box), box.y + box.height / 2, { steps: 4 });
}

async function screenshot(locator) {
  return (await locator.screenshot({ animations: "disabled" })).toString("base64");
}

async function plyr(context, url, times, scrubTime) {
  const { page, log } = await open(context, url);
  // The preview needs the media's duration and the storyboard; Plyr renders its container once both are in.
  await page.waitForFunction(() => window.player.duration > 0 && document.querySelector(".plyr__preview-thumb"));
  const duration = await page.evaluate(() => window.player.duration);
  const hovers = [];
  for (const time of times) {
    await hoverAt(page, ".plyr__progress", time, duration);
    const shown = page.locator(".plyr__preview-thumb--is-shown");
    await shown.waitFor({ state: "visible" });
    // The image for this time: loaded, in place, and the one Plyr currently shows.
    const handle = await page.waitForFunction(
      (wanted) => {
        const player = window.player;
        const thumbs = player.elements.display && document.querySelector(".plyr__preview-thumb__image-container");
        const image = thumbs && thumbs.querySelector(`img[data-index="${wanted}"]`);
        return image && image.complete && image.naturalWidth > 0 && image.style.width ? image : null;
      },
      await page.evaluate((t) => {
        const frames = window.player.previewThumbnails.thumbnails[0].frames;
        return frames.findIndex((frame) => t >= frame.startTime && t <= frame.endTime);
      }, time),
    );
    // Let Plyr drop the previous image (it keeps it briefly to avoid flicker) before the picture is taken.
    await page.waitForFunction(() => document.querySelectorAll(".plyr__preview-thumb__image-container img").length === 1);
    const image = await handle.evaluate((img) => ({
      src: img.src,
      index: Number(img.dataset.index),
      natural: [img.naturalWidth, img.naturalHeight],
      style: { width: img.style.width, height: img.style.height, left: img.style.left, top: img.style.top },
    }));
    // Plyr grows the preview into place (a CSS transition); the picture is taken once it stands still.
    await page.waitForFunction(() => document.getAnimations().length === 0);
    const container = page.locator(".plyr__preview-thumb__image-container");
    const size = await container.evaluate((element) => [element.clientWidth, element.clientHeight]);
    hovers.push({ time, ...image, container: size, png: await screenshot(container) });
  }
  // Seeking: press on the seek bar, drag to a time, and Plyr shows that frame over the whole picture;
  // on release the video seeks there.
  await hoverAt(page, ".plyr__progress", times[0], duration);
  await page.mouse.down();
  await hoverAt(page, ".plyr__progress", scrubTime, duration);
  const scrubbing = page.locator(".plyr__preview-scrubbing--is-shown");
  await scrubbing.waitFor({ state: "visible" });
  await page.waitForFunction(() => {
    const images = document.querySelectorAll(".plyr__preview-scrubbing img");
    return images.length === 1 && images[0].complete && images[0].naturalWidth > 0 && images[0].style.width;
  });
  await page.waitForFunction(() => document.getAnimations().length === 0);
  const scrubbed = await scrubbing.evaluate((element) => {
    const image = element.querySelector("img");
    return { src: image.src, index: Number(image.dataset.index) };
  });
  const png = await screenshot(scrubbing);
  await page.mouse.up();
  await page.waitForFunction((t) => Math.abs(window.player.currentTime - t) < 0.5 && !window.player.seeking, scrubTime);
  const seek = { time: scrubTime, ...scrubbed, png, currentTime: await page.evaluate(() => window.player.currentTime) };
  await close(page);
  return { duration, hovers, seek, ...log };
}

async function videojs(context, url, times) {
  const { page, log } = await open(context, url);
  await page.waitForFunction(() => window.player.duration() > 0 && document.querySelector(".vjs-vtt-thumbnail-display"));
  // video.js shows its control bar once playback has started: press play, then pause, as a viewer would.
  await page.locator(".vjs-big-play-button").click();
  await page.waitForFunction(() => window.player.hasStarted());
  await page.locator(".vjs-play-control").click();
  await page.waitForFunction(() => window.player.paused());
  const duration = await page.evaluate(() => window.player.duration());
  const hovers = [];
  for (const time of times) {
    await hoverAt(page, ".vjs-progress-control", time, duration);
    const display = page.locator(".vjs-vtt-thumbnail-display");
    await page.waitForFunction(() => {
      const element = document.querySelector(".vjs-vtt-thumbnail-display");
      return element.style.opacity === "1" && element.style.backgroundImage;
    });
    // The plugin animates the box into place (a CSS transition); wait until it stands still.
    await page.waitForFunction(() => document.getAnimations().length === 0);
    const style = await display.evaluate((element) => ({
      backgroundImage: element.style.backgroundImage,
      backgroundPosition: element.style.backgroundPosition,
      width: element.style.width,
      height: element.style.height,
    }));
    // Background images load without an event of their own: this is the moment the viewer sees it.
    await page.waitForFunction(
      (src) => performance.getEntriesByType("resource").some((entry) => entry.name === src && entry.responseEnd > 0),
      style.backgroundImage.replace(/^url\("(.*)"\)$/, "$1"),
    );
    hovers.push({ time, style, png: await screenshot(display) });
  }
  await close(page);
  return { duration, hovers, ...log };
}

// The API's preview page: its images and sheets, each loaded, then its Plyr player as above.
async function preview(context, url, times, scrubTime) {
  const { page, log } = await open(context, url);
  await page.waitForFunction(() => [...document.images].every((img) => img.complete));
  const images = await page.evaluate(() =>
    [...document.querySelectorAll(".images img")].map((img) => ({ src: img.src, natural: [img.naturalWidth, img.naturalHeight] })),
  );
  const sheets = [];
  for (const [n, image] of images.entries()) {
    sheets.push({ ...image, png: await screenshot(page.locator(".images img").nth(n)) });
  }
  const links = await page.evaluate(() => [...document.querySelectorAll(".files a")].map((a) => a.href));
  await close(page);
  // Closing the page aborts the video's preload: that is the page going, not a request failing. The player
  // part below loads the same page again and keeps every failure.
  const failures = log.failures.filter((f) => !(f.type === "media" && f.error === "net::ERR_ABORTED"));
  return { images: sheets, links, player: await plyr(context, url, times, scrubTime), ...log, failures };
}

const context = await chromium.launchPersistentContext(spec.profile, {
  executablePath: spec.chromium,
  headless: true,
  args: FLAGS,
  viewport: { width: 1000, height: 800 },
});
context.setDefaultTimeout(spec.timeout_ms);
try {
  // Only the pages asked for, in this order: the storyboard players, and the API's preview page (Plyr too).
  const drivers = {
    track: (url) => track(context, url),
    plyr: (url) => plyr(context, url, spec.hover_times, spec.scrub_time),
    videojs: (url) => videojs(context, url, spec.hover_times),
    preview: (url) => preview(context, url, spec.hover_times, spec.scrub_time),
  };
  const result = {};
  for (const [name, url] of Object.entries(spec.pages)) result[name] = await drivers[name](url);
  process.stdout.write(JSON.stringify(result));
} finally {
  await context.close();
}
