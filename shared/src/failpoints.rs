//! Named crash and error points for the crash-safety tests. Compiled only with the
//! `failpoints` feature (the local stack's builds); AWS builds contain none.
//!
//! A function's points are armed by a file, `<temp dir>/courier-failpoints-<emulator>/<function
//! name>` (`<emulator>`: its endpoint URL, letters and digits kept, anything else `-`),
//! holding what the `fail` crate reads: `processor.after-start=return(crash);
//! intake.before-send=return(error)`. The emulator runs functions as host processes, so a
//! test writes the file and every process of the function, warm or new, acts on it from its
//! next point on (an environment variable would reach only processes started after it, and
//! the emulator may start one with the old environment while the change is applied).
//! A point fires only for work whose correlation id starts with [`MARK`], so a test arms a
//! point for its own jobs and nothing else running on the stack is touched. What it does:
//! `crash` ends the process at once (as a killed function would), `crash-once` does so the
//! first time a job passes (a marker file outlives the process; counts like `1*` restart with
//! it), `panic` panics, `error` fails the step as a dependency error would.

/// Work whose correlation id starts with this is subject to armed points.
pub const MARK: &str = "failpoint-";

/// Where a function's armed points are written (the test harness writes here too): one
/// directory per emulator, so two local stacks on one machine never arm each other.
pub fn arming_file(endpoint: &str, function_name: &str) -> std::path::PathBuf {
    let emulator: String = endpoint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::env::temp_dir()
        .join(format!("courier-failpoints-{emulator}"))
        .join(function_name)
}

/// The file a point that waits for a test writes once this work reached it (a test cannot
/// read a function's log lines before its invocation ends).
pub fn reached_marker(name: &str, correlation_id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("courier-failpoint-reached-{name}-{correlation_id}"))
}

/// The action armed at `name` for this work, if any.
#[cfg(feature = "failpoints")]
pub fn action(name: &str, correlation_id: &str) -> Option<String> {
    if !correlation_id.starts_with(MARK) {
        return None;
    }
    rearm();
    fail::fail_point!(name, |arg| Some(arg.unwrap_or_default()));
    None
}

/// Applies the arming file if it changed since this process last read it.
#[cfg(feature = "failpoints")]
fn rearm() {
    static ARMED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    let var = |name| std::env::var(name).unwrap_or_default();
    let file = arming_file(&var("AWS_ENDPOINT_URL"), &var("AWS_LAMBDA_FUNCTION_NAME"));
    let wanted = std::fs::read_to_string(file).unwrap_or_default();
    let mut armed = ARMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if *armed == wanted {
        return;
    }
    for (point, _) in points(&armed) {
        fail::remove(point);
    }
    for (point, actions) in points(&wanted) {
        if let Err(error) = fail::cfg(point, actions) {
            tracing::error!(point, %error, "failpoint not armed");
        }
    }
    *armed = wanted;
}

/// `name=actions` pairs, `;`-separated.
#[cfg(feature = "failpoints")]
fn points(config: &str) -> impl Iterator<Item = (&str, &str)> {
    config
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(point, actions)| (point.trim(), actions.trim()))
}

/// Acts on what a point asks for: crash or panic here; `error` is handed back to the caller.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str, correlation_id: &str) -> Option<crate::application::ports::PortError> {
    match action(name, correlation_id)?.as_str() {
        "crash" => crash(name),
        "crash-once" => {
            let marker =
                std::env::temp_dir().join(format!("courier-failpoint-{name}-{correlation_id}"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&marker)
            {
                Ok(_) => crash(name),
                Err(_) => None,
            }
        }
        "panic" => panic!("failpoint {name}"),
        _ => Some(crate::application::ports::PortError::new(
            "failpoint",
            format!("{name} armed to fail"),
        )),
    }
}

#[cfg(feature = "failpoints")]
fn crash(name: &str) -> ! {
    tracing::error!(failpoint = name, "failpoint: crashing the process");
    std::process::exit(137);
}

/// A point where a local build can crash (or panic). Compiles to nothing without the feature.
#[macro_export]
macro_rules! crash_point {
    ($name:literal, $correlation_id:expr) => {
        #[cfg(feature = "failpoints")]
        {
            let _ = $crate::failpoints::hit($name, $correlation_id);
        }
        // Without the feature the point is nothing, but its argument still counts as used.
        #[cfg(not(feature = "failpoints"))]
        {
            let _ = &$correlation_id;
        }
    };
}

/// A point where a local build can crash, panic, or fail the step with a dependency error
/// (`return Err(..)` from the enclosing function). Compiles to nothing without the feature.
#[macro_export]
macro_rules! error_point {
    ($name:literal, $correlation_id:expr) => {
        #[cfg(feature = "failpoints")]
        {
            if let Some(error) = $crate::failpoints::hit($name, $correlation_id) {
                return Err(error.into());
            }
        }
        #[cfg(not(feature = "failpoints"))]
        {
            let _ = &$correlation_id;
        }
    };
}
