//! The build log handed back with a build (`LocalBuild::logs`, `BuildFailed::logs`):
//! each go command with its output, bounded to the most recent part.

use std::fmt::Write;

use super::process::StepOutput;

const LOG_LIMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct BuildLog {
    text: String,
}

impl BuildLog {
    pub(crate) fn record(&mut self, step: &str, out: &StepOutput) {
        let _ = writeln!(
            self.text,
            "$ {step} ({:.1}s, {})",
            out.elapsed.as_secs_f64(),
            out.status
        );
        for stream in [&out.stdout, &out.stderr] {
            if !stream.is_empty() {
                self.text.push_str(stream);
                if !stream.ends_with('\n') {
                    self.text.push('\n');
                }
            }
        }
        if self.text.len() > LOG_LIMIT {
            let kept = super::pipeline::tail(&self.text, LOG_LIMIT).to_string();
            self.text = kept;
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn into_string(self) -> String {
        self.text
    }
}
