//! Progress of long work on stderr: one line redrawn in place on a terminal, plain lines at
//! most every two seconds otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: usize,
    started: Instant,
    last_line: Option<Instant>,
    terminal: bool,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Progress {
        Progress {
            label: label.into(),
            total,
            started: Instant::now(),
            last_line: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Reports `done` of the total.
    pub fn set(&mut self, done: usize) {
        let now = Instant::now();
        if !self.terminal && self.last_line.is_some_and(|t| now - t < Duration::from_secs(2)) {
            return;
        }
        self.last_line = Some(now);
        self.draw(done);
    }

    /// Reports completion and ends the line.
    pub fn finish(&mut self) {
        self.draw(self.total);
        if self.terminal {
            eprintln!();
        }
    }

    fn draw(&self, done: usize) {
        let line = render(&self.label, done, self.total, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

/// `nodes Ready [##########----------] 5000/10000 (50%) 12.3s`
pub fn render(label: &str, done: usize, total: usize, elapsed: Duration) -> String {
    const WIDTH: usize = 20;
    let done = done.min(total);
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "{label} [{}{}] {done}/{total} ({percent}%) {:.1}s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_bar() {
        assert_eq!(
            render("nodes Ready", 5, 10, Duration::from_millis(1500)),
            "nodes Ready [##########----------] 5/10 (50%) 1.5s"
        );
        assert_eq!(render("x", 0, 0, Duration::ZERO), "x [####################] 0/0 (100%) 0.0s");
    }
}
