//! Shows a job's progress while waiting: a progress bar on a terminal, one plain line per change
//! otherwise (logs, CI, pipes).

use courier_client::{Job, JobStatus};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Display {
    bar: Option<ProgressBar>,
    last: Option<(JobStatus, u8)>,
    /// Off for `--output json`: nothing but the result is printed.
    shown: bool,
}

impl Display {
    pub fn new(id: &str, shown: bool) -> Self {
        let bar = (shown && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(100);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos:>3}% {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(id.chars().take(8).collect::<String>());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            last: None,
            shown,
        }
    }

    pub fn update(&mut self, job: &Job) {
        let now = (job.status, job.progress);
        if !self.shown || self.last.as_ref() == Some(&now) {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(u64::from(job.progress));
                bar.set_message(job.status.as_str());
            }
            None => eprintln!("{} {}%", job.status, job.progress),
        }
        self.last = Some(now);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
