// sqlqueue admin dashboard: refresh the page's <main> from the server, which
// renders (and escapes) everything, and derive per-queue rates from
// successive snapshots. No framework, no build step.
"use strict";

const RATE_WINDOW = 60; // seconds of snapshots a rate is measured over
const history = new Map(); // "project\u0000queue" -> [{t, posted, total}, ...]

function sample(main) {
  const snapshot = main.querySelector(".snapshot[data-taken-at]");
  if (!snapshot) return;
  const t = Number(snapshot.dataset.takenAt);
  const seen = new Set();
  for (const row of main.querySelectorAll("tr.queue[data-posted]")) {
    const key = row.dataset.project + "\u0000" + row.dataset.queue;
    const point = { t, posted: Number(row.dataset.posted), total: Number(row.dataset.total) };
    let points = history.get(key) || [];
    const last = points[points.length - 1];
    if (last && point.posted < last.posted) points = []; // the queue was re-created
    points.push(point);
    points = points.filter((p) => p.t >= t - RATE_WINDOW);
    history.set(key, points);
    seen.add(key);
    showRates(row, points);
  }
  for (const key of [...history.keys()]) if (!seen.has(key)) history.delete(key);
}

function showRates(row, points) {
  const first = points[0];
  const last = points[points.length - 1];
  const span = last.t - first.t;
  if (points.length < 2 || span <= 0) return;
  const posted = last.posted - first.posted;
  const left = Math.max(0, posted - (last.total - first.total));
  row.querySelector(".post-rate").textContent = (posted / span).toFixed(2);
  row.querySelector(".consume-rate").textContent = (left / span).toFixed(2);
}

async function refresh(main, status) {
  const url = new URL(window.location.href); // this very page, never another origin
  url.searchParams.set("part", "main");
  try {
    const answer = await fetch(url, { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    main.innerHTML = await answer.text();
    sample(main);
    status.textContent = "live";
    status.className = "status";
  } catch (error) {
    status.textContent = "stale: " + error.message;
    status.className = "status stale";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const main = document.getElementById("main");
  const status = document.getElementById("status");
  sample(main);
  const seconds = Math.max(0.5, Number(main.dataset.refresh) || 5);
  const tick = async () => {
    await refresh(main, status);
    window.setTimeout(tick, seconds * 1000);
  };
  window.setTimeout(tick, seconds * 1000);
});
