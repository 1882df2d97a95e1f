// courier's web console: plain JavaScript against the HTTP API (CORS) and the WebSocket API, no
// build step. `config.json` beside this page, if there is one, fills in the stack's URLs and
// where to sign in (infra/console.py serves one for the local stack):
//   {"apiUrl", "webSocketUrl", "cognitoEndpoint", "userPoolClientId", "username"}
//
// The access token lives only in this script's memory: never written into the page (a DOM
// read by any script, extension or screenshot) nor into a field the browser would restore, and
// the password field is emptied once used. The WebSocket API gets it as `?token=`, the only
// way a browser can present one there (it cannot set headers on a WebSocket).
"use strict";

const $ = (id) => document.getElementById(id);
let config = {};
let token = "";

const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED"];

async function loadConfig() {
  try {
    const answer = await fetch("config.json", { cache: "no-store" });
    if (answer.ok) config = await answer.json();
  } catch (_) {
    // No config: the fields are filled in by hand.
  }
  if (config.apiUrl) $("api-url").value = config.apiUrl;
  if (config.webSocketUrl) $("ws-url").value = config.webSocketUrl;
  if (config.username) $("username").value = config.username;
}

// Cognito's USER_PASSWORD_AUTH, straight from the page (the stack's app client allows it).
async function signIn(event) {
  event.preventDefault();
  if (!config.cognitoEndpoint || !config.userPoolClientId) {
    showError("no Cognito endpoint in config.json: paste an access token instead");
    return;
  }
  $("who").textContent = "signing in…";
  let answer;
  try {
    answer = await fetch(config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: config.userPoolClientId,
        AuthParameters: { USERNAME: $("username").value, PASSWORD: $("password").value },
      }),
    });
  } catch (error) {
    $("who").textContent = "";
    showError(`sign-in failed: Cognito could not be reached (${error.message})`);
    return;
  }
  const body = await answer.json().catch(() => ({}));
  if (body.ChallengeName) {
    // An admin-created user's first sign-in: the password must be changed first.
    $("who").textContent = "";
    showError(`sign-in needs a step this page does not do (${body.ChallengeName}): finish it with \`courier login\` or the AWS CLI, then sign in here`);
    return;
  }
  if (!answer.ok || !body.AuthenticationResult) {
    $("who").textContent = "";
    showError(`sign-in refused: ${body.message || body.__type || answer.status}`);
    return;
  }
  token = body.AuthenticationResult.AccessToken;
  $("password").value = "";
  $("who").textContent = `signed in as ${$("username").value}`;
  showJobs(null);
}

// A pasted token is taken into memory at once and the field emptied.
function takePastedToken() {
  const pasted = $("token").value.trim();
  $("token").value = "";
  if (!pasted) return;
  token = pasted;
  $("who").textContent = "using a pasted token";
  showJobs(null);
}

function currentToken() {
  return token;
}

function reset() {
  $("job-id").textContent = "–";
  $("progress").value = 0;
  $("progress").dataset.seen = "";
  for (const id of ["result", "error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
}

function setStatus(text) {
  $("status").textContent = text;
}

// Every value the bar showed, in order: what the browser test reads.
function setProgress(percent) {
  const bar = $("progress");
  bar.value = percent;
  const seen = bar.dataset.seen ? bar.dataset.seen.split(",") : [];
  if (seen[seen.length - 1] !== String(percent)) seen.push(String(percent));
  bar.dataset.seen = seen.join(",");
}

function showResult(value) {
  $("result").textContent = JSON.stringify(value, null, 2);
  $("result").hidden = false;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function problemOf(answer) {
  const body = await answer.json().catch(() => null);
  return body && body.detail ? `${body.title}: ${body.detail}` : `HTTP ${answer.status}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Claim check: submit, then poll the claim, never sooner than its Retry-After.
async function overHttp(jobType, payload) {
  const api = $("api-url").value.replace(/\/$/, "");
  const headers = { authorization: `Bearer ${currentToken()}`, "content-type": "application/json" };
  const accepted = await fetch(`${api}/v1/jobs`, {
    method: "POST",
    headers,
    body: JSON.stringify({ type: jobType, payload }),
  });
  if (accepted.status !== 202) {
    setStatus("refused");
    showError(await problemOf(accepted));
    return;
  }
  const { id } = await accepted.json();
  $("job-id").textContent = id;
  for (;;) {
    const answer = await fetch(`${api}/v1/jobs/${id}`, { headers });
    if (answer.status === 429 || answer.status === 503) {
      // Throttled, or a dependency briefly down: the claim is still there; ask again later.
      await sleep(retryAfterMs(answer));
      continue;
    }
    if (!answer.ok) {
      setStatus("unreadable");
      showError(await problemOf(answer));
      return;
    }
    const job = await answer.json();
    setStatus(job.status);
    setProgress(job.progress);
    if (TERMINAL.includes(job.status)) {
      if (job.status === "SUCCEEDED") showResult(job.result);
      else showError(job.error ? `${job.error.kind}: ${job.error.reason}` : job.status);
      return;
    }
    await sleep(retryAfterMs(answer));
  }
}

// The answer's Retry-After (seconds), else a second.
function retryAfterMs(answer) {
  const after = Number(answer.headers.get("retry-after"));
  return Number.isFinite(after) && after > 0 ? after * 1000 : 1000;
}

// Bidirectional: one connection, one submit frame, then its frames until result or error.
function overWebSocket(jobType, payload) {
  return new Promise((resolve) => {
    const url = `${$("ws-url").value}?token=${encodeURIComponent(currentToken())}`;
    const socket = new WebSocket(url);
    const requestId = `console-${Date.now()}`;
    let ended = false;
    socket.onopen = () =>
      socket.send(JSON.stringify({ action: "submit", requestId, type: jobType, payload }));
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.requestId !== requestId) return;
      if (frame.jobId) $("job-id").textContent = frame.jobId;
      switch (frame.kind) {
        case "accepted":
          setStatus("PENDING");
          break;
        case "progress":
          setStatus("RUNNING");
          setProgress(frame.data.percent);
          break;
        case "result":
          setStatus("SUCCEEDED");
          setProgress(100);
          showResult(frame.resultRef ? { resultRef: frame.resultRef } : frame.data);
          ended = true;
          socket.close();
          break;
        case "error":
          setStatus(frame.data.code === "job-failed" ? "FAILED" : "refused");
          showError(`${frame.data.code}: ${frame.data.message}`);
          ended = true;
          socket.close();
          break;
      }
    };
    socket.onerror = () => {
      ended = true;
      setStatus("disconnected");
      showError("the WebSocket connection failed (is the token valid?)");
    };
    socket.onclose = () => {
      if (!ended) {
        // Closed before the job's last frame: the claim still has its outcome.
        setStatus("disconnected");
        showError("the connection closed before the job's outcome arrived: GET its claim");
      }
      resolve();
    };
  });
}

async function submit(event) {
  event.preventDefault();
  reset();
  let payload;
  try {
    payload = JSON.parse($("payload").value || "null");
  } catch (error) {
    showError(`the payload is not JSON: ${error.message}`);
    return;
  }
  const jobType = $("job-type").value.trim();
  const mode = document.querySelector('input[name="mode"]:checked').value;
  setStatus("submitting");
  $("submit-button").disabled = true;
  try {
    if (mode === "ws") await overWebSocket(jobType, payload);
    else await overHttp(jobType, payload);
  } catch (error) {
    setStatus("failed to reach the API");
    showError(String(error));
  } finally {
    $("submit-button").disabled = false;
  }
}

// Your jobs: one page at a time (GET /v1/jobs, newest first), following `nextCursor`.
const PAGE_SIZE = 10;
let nextCursor = null;

function jobsQuery(cursor) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if ($("filter-status").value) params.set("status", $("filter-status").value);
  if ($("filter-type").value.trim()) params.set("type", $("filter-type").value.trim());
  if (cursor) params.set("cursor", cursor);
  return params.toString();
}

async function showJobs(cursor) {
  const api = $("api-url").value.replace(/\/$/, "");
  const headers = { authorization: `Bearer ${currentToken()}` };
  $("jobs-count").textContent = "loading…";
  let answer;
  try {
    answer = await fetch(`${api}/v1/jobs?${jobsQuery(cursor)}`, { headers });
  } catch (error) {
    $("jobs-count").textContent = `the API could not be reached (${error.message})`;
    return;
  }
  if (!answer.ok) {
    $("jobs-count").textContent = await problemOf(answer);
    return;
  }
  const page = await answer.json();
  const rows = $("jobs-rows");
  rows.replaceChildren(
    ...page.jobs.map((job) => {
      const row = document.createElement("tr");
      row.dataset.jobId = job.id;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open-job";
      open.textContent = job.id;
      open.addEventListener("click", () => showTimeline(job.id));
      const idCell = document.createElement("td");
      idCell.append(open);
      row.append(idCell);
      for (const text of [job.type, job.status, String(job.attempts), job.createdAt]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
  nextCursor = page.nextCursor;
  $("jobs-next").disabled = !nextCursor;
  $("jobs-first").disabled = !cursor;
  $("jobs-count").textContent = `${page.jobs.length} job(s) on this page`;
}

// One event as a line for people (the same words as `courier events`).
function describe(event) {
  const attempt = event.attempt ? `attempt ${event.attempt} ` : "";
  const took = event.attemptDurationMs !== undefined ? ` after ${event.attemptDurationMs} ms` : "";
  switch (event.kind) {
    case "accepted":
      return `accepted over ${event.door}${event.delaySeconds ? `, held back ${event.delaySeconds} s` : ""}`;
    case "attempt-started":
      return `${attempt}started`;
    case "progress":
      return `${attempt}at ${event.percent}%`;
    case "attempt-succeeded":
      return `${attempt}succeeded${took}`;
    case "attempt-failed":
      return `${attempt}failed${took} (${event.failureKind}${event.willRetry ? ", will retry" : ""}): ${event.reason}`;
    case "callback-attempt": {
      const answer = event.status ? `HTTP ${event.status}` : event.error || "no answer";
      const next = event.nextAttemptAt ? ` (next at ${event.nextAttemptAt})` : "";
      return `callback to ${event.endpointId}: ${answer} in ${event.durationMs} ms, ${event.outcome}${next}`;
    }
    case "callback-given-up":
      return `callback to ${event.endpointId} given up: ${event.reason}`;
    case "expired":
    case "dead-lettered":
      return `${event.kind}: ${event.reason}`;
    default:
      return event.kind;
  }
}

async function showTimeline(id) {
  const api = $("api-url").value.replace(/\/$/, "");
  const answer = await fetch(`${api}/v1/jobs/${id}/events`, {
    headers: { authorization: `Bearer ${currentToken()}` },
  });
  $("timeline").hidden = false;
  $("timeline-job").textContent = id;
  const list = $("timeline-events");
  if (!answer.ok) {
    const item = document.createElement("li");
    item.textContent = await problemOf(answer);
    list.replaceChildren(item);
    return;
  }
  const { events } = await answer.json();
  list.replaceChildren(
    ...events.map((event) => {
      const item = document.createElement("li");
      item.dataset.kind = event.kind;
      item.value = event.seq;
      if (event.kind.startsWith("callback")) item.className = "callback";
      if (event.kind === "attempt-failed" || event.outcome === "failed") item.classList.add("failed");
      item.textContent = `${event.at} · ${describe(event)}`;
      return item;
    }),
  );
}

$("jobs-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  showJobs(null);
});
$("jobs-next").addEventListener("click", () => showJobs(nextCursor));
$("jobs-first").addEventListener("click", () => showJobs(null));

$("sign-in").addEventListener("submit", signIn);
$("token").addEventListener("input", takePastedToken);
$("submit").addEventListener("submit", submit);
loadConfig();
