//! Named crash and error points for the crash-safety tests. Compiled only with the
//! `failpoints` feature (the local stack's builds); AWS builds contain none.
//!
//! A point is armed through the function's environment, as the `fail` crate reads it:
//! `FAILPOINTS="processor.after-start=return(crash);intake.before-send=return(error)"`.
//! It fires only for work whose correlation id starts with [`MARK`], so a test arms a point
//! for its own jobs and nothing else running on the stack is touched. What it does:
//! `crash` ends the process at once (as a killed function would), `crash-once` does so the
//! first time a job passes (a marker file outlives the process; counts like `1*` restart with
//! it), `panic` panics, `error` fails the step as a dependency error would.

/// Work whose correlation id starts with this is subject to armed points.
pub const MARK: &str = "failpoint-";

/// The action armed at `name` for this work, if any.
#[cfg(feature = "failpoints")]
pub fn action(name: &str, correlation_id: &str) -> Option<String> {
    fail::fail_point!(name, correlation_id.starts_with(MARK), |arg| Some(
        arg.unwrap_or_default()
    ));
    None
}

/// Reads the armed points from `FAILPOINTS` once, at cold start.
#[cfg(feature = "failpoints")]
pub fn setup() {
    // Kept for the process's life: the points stay armed as configured.
    std::mem::forget(fail::FailScenario::setup());
}

#[cfg(not(feature = "failpoints"))]
pub fn setup() {}

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
