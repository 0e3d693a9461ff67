//! Progress reporting for long key passes (re-wrap, re-encrypt). The passes
//! take a plain callback; [`progress_bar`] adapts it to an indicatif bar for
//! the CLI. This module must never see key material or secret values: only
//! phase names and counts.

use indicatif::{ProgressBar, ProgressStyle};

/// One progress report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Phase name: `rewrap data keys`, `new data keys`, `re-encrypt credentials`...
    pub phase: &'static str,
    /// Items done in this phase.
    pub done: u64,
    /// Items in this phase.
    pub total: u64,
}

/// A callback drawing one indicatif bar per phase on stderr, for
/// `plugboard keys rotate [--reencrypt]`.
pub fn progress_bar() -> impl FnMut(&Progress) + Send {
    let mut current: Option<(&'static str, ProgressBar)> = None;
    move |p: &Progress| {
        if current.as_ref().map(|(phase, _)| *phase) != Some(p.phase) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = ProgressBar::new(p.total);
            bar.set_style(
                ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} ({eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(p.phase);
            current = Some((p.phase, bar));
        }
        if let Some((_, bar)) = &current {
            bar.set_length(p.total);
            bar.set_position(p.done);
            if p.done >= p.total {
                bar.finish();
            }
        }
    }
}
