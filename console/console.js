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
  showEverything();
}

// A pasted token is taken into memory at once and the field emptied.
function takePastedToken() {
  const pasted = $("token").value.trim();
  $("token").value = "";
  if (!pasted) return;
  token = pasted;
  $("who").textContent = "using a pasted token";
  showEverything();
}

function showEverything() {
  showJobs(null);
  showSchedules();
  showDestinations();
}

function currentToken() {
  return token;
}

function apiUrl() {
  return $("api-url").value.replace(/\/$/, "");
}

// One call of the HTTP API as the signed-in user (a JSON body if one is given).
function call(method, path, body) {
  const headers = { authorization: `Bearer ${currentToken()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${apiUrl()}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function reset() {
  $("job-id").textContent = "–";
  $("runs-at").textContent = "";
  $("progress").value = 0;
  $("progress").dataset.seen = "";
  for (const id of ["result", "error"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
  $("result-download").hidden = true;
  $("result-link").href = "#";
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

// A result too large for the claim: a link to it in the bucket, never its bytes in the page.
function showResultLink(url, bytes) {
  $("result-size").textContent = bytes ? `The result (${bytes} bytes)` : "The result";
  $("result-link").href = url;
  $("result-download").hidden = false;
}

// A finished job's outcome, from its claim.
function showOutcome(job) {
  if (job.status === "SUCCEEDED") {
    if (job.resultUrl) showResultLink(job.resultUrl);
    else showResult(job.result);
  } else {
    showError(job.error ? `${job.error.kind}: ${job.error.reason}` : job.status);
  }
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
async function overHttp(job) {
  const accepted = await call("POST", "/v1/jobs", job);
  if (accepted.status !== 202) {
    setStatus("refused");
    showError(await problemOf(accepted));
    return;
  }
  const { id } = await accepted.json();
  $("job-id").textContent = id;
  for (;;) {
    const answer = await call("GET", `/v1/jobs/${id}`);
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
    $("runs-at").textContent = job.runAt && job.status === "PENDING" ? `runs at ${job.runAt}` : "";
    if (TERMINAL.includes(job.status)) {
      showOutcome(job);
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
function overWebSocket(job) {
  return new Promise((resolve) => {
    const url = `${$("ws-url").value}?token=${encodeURIComponent(currentToken())}`;
    const socket = new WebSocket(url);
    const requestId = `console-${Date.now()}`;
    let ended = false;
    socket.onopen = () => socket.send(JSON.stringify({ action: "submit", requestId, ...job }));
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
          ended = true;
          if (frame.resultRef) {
            // Done once the claim's link is shown.
            heldResult(frame.resultRef).finally(() => socket.close());
          } else {
            showResult(frame.data);
            socket.close();
          }
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

// A result frame's `resultRef` (too large for a frame): the claim it names has the link.
async function heldResult(resultRef) {
  const answer = await call("GET", resultRef.href);
  if (!answer.ok) {
    showError(await problemOf(answer));
    return;
  }
  const job = await answer.json();
  if (job.resultUrl) showResultLink(job.resultUrl, resultRef.bytes);
  else showResult(job.result);
}

// A payload file goes to the stack's bucket first (POST /v1/uploads, then a PUT to the URL it
// answered); the job then names the upload. Its id, or null once the error is shown.
async function upload(file) {
  setStatus("uploading");
  const made = await call("POST", "/v1/uploads");
  if (made.status !== 201) {
    setStatus("refused");
    showError(await problemOf(made));
    return null;
  }
  const { id, uploadUrl, maxBytes } = await made.json();
  if (file.size > maxBytes) {
    setStatus("refused");
    showError(`the file is ${file.size} bytes: an upload holds at most ${maxBytes}`);
    return null;
  }
  const put = await fetch(uploadUrl, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: file,
  });
  if (!put.ok) {
    setStatus("refused");
    showError(`the bucket refused the upload: HTTP ${put.status}`);
    return null;
  }
  return id;
}

// The job the form describes: its type, its payload (the file's upload, else the JSON text),
// and when it runs. Null once an error is shown.
async function jobFromForm(mode) {
  const job = { type: $("job-type").value.trim() };
  if ($("run-at").value) {
    if (mode === "ws") {
      showError("a job with a run-at time goes over HTTP: its WebSocket would have to stay open until then");
      return null;
    }
    job.runAt = new Date($("run-at").value).toISOString();
  }
  const file = $("payload-file").files[0];
  if (file) {
    const id = await upload(file);
    if (!id) return null;
    job.payloadRef = id;
    return job;
  }
  try {
    job.payload = JSON.parse($("payload").value || "null");
  } catch (error) {
    showError(`the payload is not JSON: ${error.message}`);
    return null;
  }
  return job;
}

async function submit(event) {
  event.preventDefault();
  reset();
  const mode = document.querySelector('input[name="mode"]:checked').value;
  setStatus("submitting");
  $("submit-button").disabled = true;
  try {
    const job = await jobFromForm(mode);
    if (!job) {
      if ($("status").textContent === "submitting") setStatus("refused");
      return;
    }
    setStatus("submitting");
    if (mode === "ws") await overWebSocket(job);
    else await overHttp(job);
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
  $("jobs-count").textContent = "loading…";
  let answer;
  try {
    answer = await call("GET", `/v1/jobs?${jobsQuery(cursor)}`);
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
    case "accepted": {
      const held = event.delaySeconds ? `, held back ${event.delaySeconds} s` : "";
      const at = event.runAt ? `, to run at ${event.runAt}` : "";
      return `accepted over ${event.door}${held}${at}`;
    }
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
      return `callback to ${event.endpointId || event.destinationId}: ${answer} in ${event.durationMs} ms, ${event.outcome}${next}`;
    }
    case "callback-given-up":
      return `callback to ${event.endpointId || event.destinationId} given up: ${event.reason}`;
    case "expired":
    case "dead-lettered":
      return `${event.kind}: ${event.reason}`;
    default:
      return event.kind;
  }
}

async function showTimeline(id) {
  const answer = await call("GET", `/v1/jobs/${id}/events`);
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

// A table row of text cells, then a cell of buttons (label → what a click does).
function row(key, texts, actions) {
  const tr = document.createElement("tr");
  tr.dataset.id = key;
  for (const text of texts) {
    const cell = document.createElement("td");
    cell.textContent = text;
    tr.append(cell);
  }
  const cell = document.createElement("td");
  for (const [label, act] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = label;
    button.textContent = label;
    button.addEventListener("click", act);
    cell.append(button, " ");
  }
  tr.append(cell);
  return tr;
}

// Your schedules (the first 100; `courier schedules list` pages through more).
async function showSchedules() {
  let answer;
  try {
    answer = await call("GET", "/v1/schedules?limit=100");
  } catch (error) {
    $("schedule-status").textContent = `the API could not be reached (${error.message})`;
    return;
  }
  if (!answer.ok) {
    $("schedule-status").textContent = await problemOf(answer);
    return;
  }
  const { schedules } = await answer.json();
  $("schedules-rows").replaceChildren(
    ...schedules.map((schedule) => {
      const change = (path, method = "POST") => async () => {
        const changed = await call(method, path);
        $("schedule-status").textContent = changed.ok ? "" : await problemOf(changed);
        showSchedules();
      };
      const path = `/v1/schedules/${schedule.id}`;
      const toggle =
        schedule.state === "ACTIVE" ? ["pause", change(`${path}/pause`)] : ["resume", change(`${path}/resume`)];
      return row(
        schedule.id,
        [schedule.id, schedule.expression, schedule.timezone, schedule.job.type, schedule.state],
        [toggle, ["delete", change(path, "DELETE")]],
      );
    }),
  );
}

// A new schedule of the job the form above describes (type and JSON payload).
async function createSchedule(event) {
  event.preventDefault();
  let payload;
  try {
    payload = JSON.parse($("payload").value || "null");
  } catch (error) {
    $("schedule-status").textContent = `the payload is not JSON: ${error.message}`;
    return;
  }
  const schedule = {
    expression: $("schedule-expression").value.trim(),
    job: { type: $("job-type").value.trim(), payload },
  };
  if ($("schedule-timezone").value.trim()) schedule.timezone = $("schedule-timezone").value.trim();
  const answer = await call("POST", "/v1/schedules", schedule);
  if (answer.status !== 201) {
    $("schedule-status").textContent = await problemOf(answer);
    return;
  }
  const { id } = await answer.json();
  $("schedule-status").textContent = `created ${id}`;
  showSchedules();
}

// Where callbacks go: webhook endpoints and destinations (first pages), each removable.
async function showDestinations() {
  let endpoints, destinations;
  try {
    [endpoints, destinations] = await Promise.all([
      call("GET", "/v1/webhook-endpoints?limit=100"),
      call("GET", "/v1/destinations?limit=100"),
    ]);
  } catch (error) {
    $("destinations-status").textContent = `the API could not be reached (${error.message})`;
    return;
  }
  for (const answer of [endpoints, destinations]) {
    if (!answer.ok) {
      $("destinations-status").textContent = await problemOf(answer);
      return;
    }
  }
  const removal = (path) => async () => {
    const removed = await call("DELETE", path);
    $("destinations-status").textContent = removed.ok ? "" : await problemOf(removed);
    showDestinations();
  };
  const rows = [
    ...(await endpoints.json()).endpoints.map((endpoint) =>
      row(endpoint.id, [endpoint.id, "webhook", endpoint.url, endpoint.createdAt], [
        ["delete", removal(`/v1/webhook-endpoints/${endpoint.id}`)],
      ]),
    ),
    ...(await destinations.json()).destinations.map((destination) =>
      row(
        destination.id,
        [
          destination.id,
          destination.sqs ? "SQS queue" : "EventBridge bus",
          destination.sqs || destination.eventBridge,
          destination.createdAt,
        ],
        [["delete", removal(`/v1/destinations/${destination.id}`)]],
      ),
    ),
  ];
  $("destinations-rows").replaceChildren(...rows);
  $("destinations-status").textContent = `${rows.length} in all`;
}

$("schedule-form").addEventListener("submit", createSchedule);
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
