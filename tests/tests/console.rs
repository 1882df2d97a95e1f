//! The web console in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against the local stack. The page signs in with the stack's Cognito, calls the HTTP API
//! across origins (CORS) and the WebSocket API with `?token=`, and shows what it gets: a job's
//! progress bar from polling, then from frames, its result, and a failed job's error.

use courier_e2e::Stack;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free port of 127.0.0.1, stopped when dropped.
struct Chromedriver {
    process: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn chromedriver() -> Chromedriver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let process = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{binary}: {e} (infra/test.sh installs Debian's chromium and chromium-driver)")
        });
    let driver = Chromedriver {
        process,
        url: format!("http://127.0.0.1:{port}"),
    };
    let status = format!("{}/status", driver.url);
    courier_e2e::eventually("chromedriver to answer", || {
        let status = status.clone();
        async move {
            courier_e2e::http_client()
                .get(&status)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
    driver
}

async fn browser(driver: &Chromedriver) -> Client {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    if let Ok(binary) = std::env::var("CHROME_BINARY") {
        options["binary"] = Value::String(binary);
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a headless Chromium session")
}

async fn text(browser: &Client, id: &str) -> String {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls the page until `id`'s text satisfies `done`, within a deadline.
async fn wait_for_text(browser: &Client, id: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = text(browser, id).await;
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "#{id} stayed {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(browser: &Client, locator: Locator<'_>) {
    browser.find(locator).await.unwrap().click().await.unwrap();
}

async fn fill(browser: &Client, id: &str, value: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// What the page's status says once it is done with a job.
const TERMINAL: [&str; 5] = [
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "refused",
    "disconnected",
];

/// Runs one job from the page and returns (final status, progress values the bar showed,
/// result text, error text).
async fn run_job(
    browser: &Client,
    mode: &str,
    job_type: &str,
    payload: &str,
) -> (String, Vec<u8>, String, String) {
    fill(browser, "job-type", job_type).await;
    fill(browser, "payload", payload).await;
    click(
        browser,
        Locator::Css(&format!("input[name=mode][value={mode}]")),
    )
    .await;
    click(browser, Locator::Id("submit-button")).await;
    let status = wait_for_text(browser, "status", |s| TERMINAL.contains(&s)).await;
    // The button comes back once the page is done with the job.
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser
        .find(Locator::Id("submit-button"))
        .await
        .unwrap()
        .prop("disabled")
        .await
        .unwrap()
        .as_deref()
        == Some("true")
    {
        assert!(
            Instant::now() < deadline,
            "the submit button stayed disabled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = browser
        .find(Locator::Id("progress"))
        .await
        .unwrap()
        .attr("data-seen")
        .await
        .unwrap()
        .unwrap_or_default();
    let seen = seen
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let result = browser
        .find(Locator::Id("result"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let error = browser
        .find(Locator::Id("error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (status, seen, result, error)
}

#[tokio::test]
async fn the_web_console_runs_jobs_over_http_and_websocket_in_a_browser() {
    let stack = Stack::load().await;
    let console = stack.outputs["ConsoleUrl"].clone();
    let driver = chromedriver().await;
    let browser = browser(&driver).await;

    // The page is served with a Content-Security-Policy that never lets it be framed; all that
    // follows runs under it.
    let page = courier_e2e::http_client()
        .get(&console)
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing from {policy}"
        );
    }
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    browser.goto(&console).await.unwrap();
    browser
        .execute(
            "window.violations = []; document.addEventListener('securitypolicyviolation', \
             (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));",
            vec![],
        )
        .await
        .unwrap();

    // config.json fills in the stack (fetched after the page loads: waited for); the user types
    // the password and signs in with Cognito.
    let username = config_loaded(&browser).await;
    assert_eq!(username, stack.outputs["LocalUsername"]);
    fill(&browser, "password", &stack.outputs["LocalPassword"]).await;
    click(&browser, Locator::Id("sign-in-button")).await;
    let who = wait_for_text(&browser, "who", |s| s.starts_with("signed in")).await;
    assert!(who.contains(&stack.outputs["LocalUsername"]), "{who}");
    // Signed in, the token (a JWT: "eyJ….eyJ….…") is nowhere in the page, its fields
    // included, and the password field is empty.
    let page = browser
        .execute(
            r"const text = document.documentElement.outerHTML +
                [...document.querySelectorAll('input, textarea')].map((f) => f.value).join('|');
              return {jwt: /eyJ[\w-]{8,}\.eyJ[\w-]{8,}/.test(text),
                      password: document.getElementById('password').value};",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        page,
        json!({"jwt": false, "password": ""}),
        "a token or the password is in the page"
    );

    // Claim check from the page: the bar moves with the polls, then the result shows.
    let (status, seen, result, error) = run_job(&browser, "http", "sleep", r#"{"ms": 3000}"#).await;
    assert_eq!(status, "SUCCEEDED", "error: {error}");
    assert!(
        seen.iter().any(|p| (1..100).contains(p)),
        "a progress value between 0 and 100 from polling: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&100), "{seen:?}");
    assert!(error.is_empty(), "{error}");
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["sleptMs"], 3000, "{result}");

    // Bidirectional from the page: every progress frame moves the bar.
    let (status, seen, result, error) = run_job(&browser, "ws", "sleep", r#"{"ms": 1500}"#).await;
    assert_eq!(status, "SUCCEEDED", "error: {error}");
    assert!(
        seen.iter().filter(|p| (1..100).contains(*p)).count() >= 3,
        "progress frames: {seen:?}"
    );
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["sleptMs"], 1500, "{result}");

    // A failed job shows its error, over either API.
    let (status, _, result, error) = run_job(
        &browser,
        "http",
        "fail",
        r#"{"reason": "shown in the page"}"#,
    )
    .await;
    assert_eq!(status, "FAILED");
    assert!(result.is_empty(), "{result}");
    assert!(error.contains("permanent: shown in the page"), "{error}");
    let (status, _, _, error) = run_job(&browser, "ws", "fail", r#"{"reason": "framed"}"#).await;
    assert_eq!(status, "FAILED");
    assert!(error.starts_with("job-failed: "), "{error}");
    assert!(error.contains("framed"), "{error}");

    // A refused submission shows the API's problem, and nothing runs.
    let (status, seen, _, error) = run_job(&browser, "http", "no-such-type", "1").await;
    assert_eq!(status, "refused");
    assert!(seen.is_empty(), "{seen:?}");
    assert!(error.contains("no-such-type"), "{error}");

    // Everything above (its own files, the HTTP API, the WebSocket API, Cognito) was allowed.
    let violations = browser
        .execute("return window.violations;", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "the page broke its policy");
    browser.close().await.unwrap();
}

/// Waits until config.json has filled the page in; the user name it filled in.
async fn config_loaded(browser: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = browser
            .find(Locator::Id("username"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if !value.is_empty() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "config.json never filled the page in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids in the jobs table, top to bottom, read in one script (the page may redraw the table
/// at any moment: element by element, a row could go stale between two reads).
async fn table_ids(browser: &Client) -> Vec<String> {
    let ids = browser
        .execute(
            "return [...document.querySelectorAll('#jobs-rows tr')].map(r => r.dataset.jobId);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(ids).unwrap()
}

/// Waits until the jobs table shows exactly `expected` (the page fetches in the background).
async fn wait_for_table(browser: &Client, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids = table_ids(browser).await;
        if ids == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the table shows {ids:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_console_lists_a_callers_jobs_and_shows_a_jobs_timeline_with_its_callbacks() {
    let stack = Stack::load().await;
    let (username, password, token) = stack.fresh_user().await;
    // Her jobs: one whose callback answers 500 then 204, and two that fail.
    let receiver = courier_e2e::receiver::Receiver::start(
        vec![courier_e2e::receiver::Answer::Status(500)],
        None,
    )
    .await;
    let endpoint = stack.register_endpoint_as(&token, &receiver.url).await;
    let submit = |body: Value| {
        let stack = &stack;
        let token = &token;
        async move {
            let reply = stack.post_json_as(token, "/v1/jobs", &body).await;
            assert_eq!(reply.status, 202, "{reply:?}");
            reply.json()["id"].as_str().unwrap().to_owned()
        }
    };
    let called_back = submit(json!({"type": "echo", "payload": 1,
        "callback": {"endpointId": endpoint.id}}))
    .await;
    let failed_first = submit(json!({"type": "fail", "payload": {"reason": "one"}})).await;
    let failed_second = submit(json!({"type": "fail", "payload": {"reason": "two"}})).await;
    courier_e2e::eventually("her jobs to finish and the callback to land", || async {
        let job = stack
            .get_as(&token, &format!("/v1/jobs/{called_back}"))
            .await
            .json();
        let second = stack
            .get_as(&token, &format!("/v1/jobs/{failed_second}"))
            .await
            .json();
        (job["callback"]["state"] == "DELIVERED" && second["status"] == "FAILED").then_some(())
    })
    .await;

    let driver = chromedriver().await;
    let browser = browser(&driver).await;
    browser.goto(&stack.outputs["ConsoleUrl"]).await.unwrap();
    // config.json fills the local user in once it loads: typed before that, the name would
    // be overwritten.
    config_loaded(&browser).await;
    fill(&browser, "username", &username).await;
    fill(&browser, "password", &password).await;
    click(&browser, Locator::Id("sign-in-button")).await;
    wait_for_text(&browser, "who", |s| s.starts_with("signed in")).await;

    // Signed in, the table shows her jobs, newest first; a filter narrows it.
    let all = [
        failed_second.clone(),
        failed_first.clone(),
        called_back.clone(),
    ];
    wait_for_table(&browser, &all).await;
    browser
        .find(Locator::Css(
            "#filter-status option[value=FAILED], #filter-status option:nth-child(5)",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, Locator::Id("jobs-refresh")).await;
    wait_for_table(&browser, &all[..2]).await;

    // Back to every job; a click on one opens its timeline, with both callback answers.
    browser
        .find(Locator::Css("#filter-status option:nth-child(1)"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, Locator::Id("jobs-refresh")).await;
    wait_for_table(&browser, &all).await;
    click(
        &browser,
        Locator::Css(&format!("tr[data-job-id='{called_back}'] button.open-job")),
    )
    .await;
    wait_for_text(&browser, "timeline-job", |s| s == called_back).await;
    let events = wait_for_text(&browser, "timeline-events", |s| s.contains("HTTP 204")).await;
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(lines.len(), 5, "{events}");
    assert!(lines[0].contains("accepted over http"), "{events}");
    assert!(lines[2].contains("attempt 1 succeeded"), "{events}");
    assert!(
        lines[3].contains(&format!("callback to {}: HTTP 500", endpoint.id))
            && lines[3].contains("retrying"),
        "{events}"
    );
    assert!(
        lines[4].contains("HTTP 204") && lines[4].contains("delivered"),
        "{events}"
    );
    browser.close().await.unwrap();
}

/// The HTTP API lets the console's origin call it and no other: API Gateway answers the
/// preflight for the allowed origin only.
#[tokio::test]
async fn only_the_consoles_origin_passes_the_preflight() {
    let stack = Stack::load().await;
    let console = stack.outputs["ConsoleUrl"].trim_end_matches('/').to_owned();
    let preflight = |origin: String| {
        let url = format!("{}/v1/jobs", stack.outputs["HttpApiUrl"]);
        async move {
            courier_e2e::http_client()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight(console.clone()).await;
    assert!(allowed.status().is_success(), "{allowed:?}");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        console.as_str()
    );
    let elsewhere = preflight("http://127.0.0.1:9".into()).await;
    assert!(
        elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{elsewhere:?}"
    );
}

/// Waits until `selector` matches nothing on the page (a row deleted and redrawn).
async fn wait_until_gone(browser: &Client, selector: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !browser
        .find_all(Locator::Css(selector))
        .await
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "{selector} is still shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the first element `selector` matches, once it says what `done` waits for.
async fn wait_for_css(browser: &Client, selector: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = browser.find_all(Locator::Css(selector)).await.unwrap();
        let now = match found.first() {
            Some(element) => element.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{selector} stayed {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The download link the page shows for a result held in the bucket: its JSON, fetched.
async fn linked_result(browser: &Client) -> Value {
    let link = browser
        .find(Locator::Id("result-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("a result link");
    let answer = courier_e2e::http_client().get(&link).send().await.unwrap();
    assert!(
        answer.status().is_success(),
        "{link}: {:?}",
        answer.status()
    );
    answer.json().await.unwrap()
}

#[tokio::test]
async fn the_console_uploads_a_payload_file_links_a_large_result_schedules_and_lists_destinations()
{
    let stack = Stack::load().await;
    let (username, password, token) = stack.fresh_user().await;
    // Where her callbacks go: a webhook endpoint and a queue of her own.
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint_as(&token, &receiver.url).await;
    let (_, queue) = stack.own_queue("e2e-console").await;
    let registered = stack
        .post_json_as(&token, "/v1/destinations", &json!({"sqs": queue}))
        .await;
    assert_eq!(registered.status, 201, "{registered:?}");
    let destination = registered.json()["id"].as_str().unwrap().to_owned();

    let driver = chromedriver().await;
    let browser = browser(&driver).await;
    browser.goto(&stack.outputs["ConsoleUrl"]).await.unwrap();
    browser
        .execute(
            "window.violations = []; document.addEventListener('securitypolicyviolation', \
             (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));",
            vec![],
        )
        .await
        .unwrap();
    config_loaded(&browser).await;
    fill(&browser, "username", &username).await;
    fill(&browser, "password", &password).await;
    click(&browser, Locator::Id("sign-in-button")).await;
    wait_for_text(&browser, "who", |s| s.starts_with("signed in")).await;

    // Both places her callbacks go are listed; deleting the queue removes it from the stack.
    let endpoint_row = format!("tr[data-id='{}']", endpoint.id);
    let destination_row = format!("tr[data-id='{destination}']");
    let shown = wait_for_css(&browser, &destination_row, |s| s.contains(&queue)).await;
    assert!(shown.contains("SQS queue"), "{shown}");
    let shown = wait_for_css(&browser, &endpoint_row, |s| s.contains(&receiver.url)).await;
    assert!(shown.contains("webhook"), "{shown}");
    click(
        &browser,
        Locator::Css(&format!("{destination_row} button.delete")),
    )
    .await;
    wait_until_gone(&browser, &destination_row).await;
    let gone = stack
        .get_as(&token, &format!("/v1/destinations/{destination}"))
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(
        browser
            .find_all(Locator::Css(&endpoint_row))
            .await
            .unwrap()
            .len(),
        1,
        "the endpoint is still listed"
    );

    // A payload file, uploaded to the bucket from the page; the echo of it is over the claim's
    // limit, so the page links the result instead of showing it.
    let payload = json!({"text": "lorem ipsum ".repeat(30_000)});
    let file = std::env::temp_dir().join(format!("courier-console-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(&payload).unwrap()).unwrap();
    browser
        .find(Locator::Id("payload-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    let (status, _, result, error) = run_job(&browser, "http", "echo", "null").await;
    assert_eq!(status, "SUCCEEDED", "error: {error}");
    assert!(
        result.is_empty(),
        "a large result is linked, not shown: {result}"
    );
    assert_eq!(linked_result(&browser).await, payload);
    // Over WebSocket, the result frame refers to the claim; the page follows it to the link.
    let (status, _, _, error) = run_job(&browser, "ws", "echo", "null").await;
    assert_eq!(status, "SUCCEEDED", "error: {error}");
    let size = text(&browser, "result-size").await;
    assert!(size.contains(" bytes)"), "{size}");
    assert_eq!(linked_result(&browser).await, payload);
    std::fs::remove_file(&file).unwrap();
    browser
        .execute(
            "document.getElementById('payload-file').value = '';",
            vec![],
        )
        .await
        .unwrap();

    // A job for later: PENDING with its time shown until then, then run.
    browser
        .execute(
            "const later = new Date(Date.now() + 20000 - new Date().getTimezoneOffset() * 60000); \
             document.getElementById('run-at').value = later.toISOString().slice(0, 19);",
            vec![],
        )
        .await
        .unwrap();
    fill(&browser, "job-type", "echo").await;
    fill(&browser, "payload", r#"{"later": true}"#).await;
    click(&browser, Locator::Css("input[name=mode][value=http]")).await;
    click(&browser, Locator::Id("submit-button")).await;
    let runs_at = wait_for_text(&browser, "runs-at", |s| s.starts_with("runs at ")).await;
    assert_eq!(text(&browser, "status").await, "PENDING");
    let status = wait_for_text(&browser, "status", |s| TERMINAL.contains(&s)).await;
    let (result, error) = (
        text(&browser, "result").await,
        text(&browser, "error").await,
    );
    assert_eq!(status, "SUCCEEDED", "error: {error}");
    assert_eq!(
        serde_json::from_str::<Value>(&result).unwrap(),
        json!({"later": true})
    );
    let id = text(&browser, "job-id").await;
    let job = stack.get_as(&token, &format!("/v1/jobs/{id}")).await.json();
    assert_eq!(
        runs_at,
        format!("runs at {}", job["runAt"].as_str().unwrap()),
        "{job}"
    );
    let instant = |field: &str| {
        time::OffsetDateTime::parse(
            job[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(
        instant("startedAt") >= instant("runAt"),
        "started before its time: {job}"
    );
    browser
        .execute("document.getElementById('run-at').value = '';", vec![])
        .await
        .unwrap();

    // Schedules: a bad expression is refused with the API's words; a good one is listed,
    // paused, resumed and deleted from its row.
    fill(&browser, "job-type", "echo").await;
    fill(&browser, "payload", r#"{"every": "minute"}"#).await;
    fill(&browser, "schedule-expression", "every hour").await;
    click(&browser, Locator::Id("schedule-create")).await;
    let refused = wait_for_text(&browser, "schedule-status", |s| !s.is_empty()).await;
    assert!(refused.contains("expression"), "{refused}");
    fill(&browser, "schedule-expression", "rate(1 minute)").await;
    click(&browser, Locator::Id("schedule-create")).await;
    let created = wait_for_text(&browser, "schedule-status", |s| s.starts_with("created ")).await;
    let schedule = created.trim_start_matches("created ").to_owned();
    let schedule_row = format!("tr[data-id='{schedule}']");
    let state_of = |state: &'static str| move |s: &str| s.contains(state);
    let shown = wait_for_css(&browser, &schedule_row, state_of("ACTIVE")).await;
    assert!(
        shown.contains("rate(1 minute)") && shown.contains("echo"),
        "{shown}"
    );
    click(
        &browser,
        Locator::Css(&format!("{schedule_row} button.pause")),
    )
    .await;
    wait_for_css(&browser, &schedule_row, state_of("PAUSED")).await;
    let kept = stack
        .get_as(&token, &format!("/v1/schedules/{schedule}"))
        .await;
    assert_eq!(kept.json()["state"], "PAUSED", "{kept:?}");
    click(
        &browser,
        Locator::Css(&format!("{schedule_row} button.resume")),
    )
    .await;
    wait_for_css(&browser, &schedule_row, state_of("ACTIVE")).await;
    click(
        &browser,
        Locator::Css(&format!("{schedule_row} button.delete")),
    )
    .await;
    wait_until_gone(&browser, &schedule_row).await;
    let gone = stack
        .get_as(&token, &format!("/v1/schedules/{schedule}"))
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");

    // The upload's PUT to the bucket and the rest stayed within the page's policy.
    let violations = browser
        .execute("return window.violations;", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "the page broke its policy");
    browser.close().await.unwrap();
}
