//! Printing helpers shared by the commands.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lookalike::Progress;

/// A progress bar with rate and ETA on stderr (hidden when not a terminal).
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} {msg:>9} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The library's progress reports drawn on `bar`; cancelled once `cancel`
/// is set (by the Ctrl-C handler).
pub struct BarProgress<'a> {
    pub bar: &'a ProgressBar,
    pub cancel: Option<&'a AtomicBool>,
}

impl Progress for BarProgress<'_> {
    fn stage(&self, name: &str, total: Option<u64>) {
        self.bar.set_message(name.to_string());
        if let Some(total) = total {
            self.bar.set_length(total);
            self.bar.set_position(0);
        }
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Cuts `s` to `max` characters, with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Accuracies per label field as `articleType 0.868, baseColour 0.667`.
pub fn accuracies<'a>(acc: impl IntoIterator<Item = (&'a String, &'a f32)>) -> String {
    acc.into_iter()
        .map(|(f, a)| format!("{f} {a:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
