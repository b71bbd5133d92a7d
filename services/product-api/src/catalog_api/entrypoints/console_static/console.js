// Live job progress (EventSource on the job's event stream) and relative times kept current.
"use strict";

function relative(iso) {
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  const s = Math.abs(seconds);
  const text = s >= 86400 ? `${Math.floor(s / 86400)} d` : s >= 3600 ? `${Math.floor(s / 3600)} h`
    : s >= 60 ? `${Math.floor(s / 60)} min` : `${Math.floor(s)} s`;
  return seconds < 0 ? `in ${text}` : `${text} ago`;
}

function refreshTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) el.textContent = relative(el.getAttribute("datetime"));
}

function setText(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value === null || value === undefined ? "—" : String(value);
}

function stateBadge(state) {
  const tones = { PENDING: "neutral", PROCESSING: "info", COMPLETED: "ok", COMPLETED_WITH_ERRORS: "warn", FAILED: "bad", CANCELLED: "muted" };
  const badge = document.createElement("span");
  badge.className = `badge ${tones[state] || "neutral"}`;
  badge.dataset.state = state;
  badge.textContent = state.replaceAll("_", " ").toLowerCase();
  return badge;
}

function watchJob(section) {
  const source = new EventSource(section.dataset.events);
  const live = document.getElementById("live");
  source.onopen = () => { if (live) live.hidden = false; };
  source.addEventListener("progress", (event) => {
    const job = JSON.parse(event.data);
    for (const name of ["processed", "succeeded", "created", "updated", "unchanged", "failed", "skipped"]) {
      setText(`rows-${name}`, job.rows[name]);
    }
    setText("progress-percent", job.progress_percent);
    setText("rows-per-second", job.rows_per_second);
    document.getElementById("job-bar").style.width = `${job.progress_percent}%`;
    const summary = document.getElementById("error-summary");
    summary.replaceChildren(...Object.entries(job.error_summary).map(([category, count]) => {
      const li = document.createElement("li");
      const badge = document.createElement("span");
      badge.className = "badge muted";
      badge.textContent = category;
      li.append(badge, ` ${count}`);
      return li;
    }));
    const retrying = document.getElementById("job-retrying");
    if (retrying) {
      // Running but retrying: an earlier attempt of this run failed and the job is being tried again.
      retrying.hidden = !(job.attempts > 0 && ["PENDING", "PROCESSING"].includes(job.state) && job.last_error);
      retrying.textContent = `retrying · attempt ${job.attempts}`;
    }
  });
  source.addEventListener("state", (event) => {
    const change = JSON.parse(event.data);
    document.getElementById("job-state").replaceChildren(stateBadge(change.state));
    const item = document.createElement("li");
    const when = document.createElement("time");
    when.setAttribute("datetime", change.at);
    when.title = change.at;
    when.textContent = relative(change.at);
    item.append(stateBadge(change.state), " ", when);
    document.getElementById("history").append(item);
  });
  source.addEventListener("end", async () => {
    source.close();
    if (live) live.hidden = true;
    // The ledger and the actions a finished job allows, from the server: no reload of the page.
    const fresh = new DOMParser().parseFromString(await (await fetch(location.href)).text(), "text/html");
    for (const id of ["ledger-section", "job-actions", "job-facts"]) {
      const now = document.getElementById(id);
      const then = fresh.getElementById(id);
      if (now && then) now.replaceWith(then);
    }
    section.dataset.finished = "true";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job");
  // Even a finished job is watched once: the stream sends its history and ends at once.
  if (job && job.dataset.events && job.dataset.finished !== "true") watchJob(job);
  refreshTimes();
  setInterval(refreshTimes, 15000);
});
