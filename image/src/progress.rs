//! A progress display per layer (bytes, rate), as `docker pull` shows: only when stdout
//! is a terminal and not `--quiet`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;

pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        let multi = enabled.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Progress { multi, bars: Mutex::new(HashMap::new()) }
    }

    fn bar(&self, d: &Digest, size: u64) -> Option<ProgressBar> {
        let m = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(d.clone())
                .or_insert_with(|| {
                    let b = m.add(ProgressBar::new(size));
                    let style = ProgressStyle::with_template("{prefix}: {msg:12} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                    b.set_style(style);
                    b.set_prefix(short(d).to_string());
                    b.set_message("downloading");
                    b
                })
                .clone(),
        )
    }

    /// A reader that advances the layer's bar.
    pub fn reader<R: Read>(&self, d: &Digest, size: u64, r: R) -> Counted<R> {
        Counted { r, bar: self.bar(d, size) }
    }

    pub fn done(&self, d: &Digest, size: u64, what: &str) {
        if let Some(b) = self.bar(d, size) {
            b.set_position(size);
            b.finish_with_message(what.to_string());
        }
    }

    pub fn failed(&self, d: &Digest) {
        if let Some(b) = self.bar(d, 0) {
            b.abandon_with_message("failed");
        }
    }
}

pub struct Counted<R> {
    r: R,
    bar: Option<ProgressBar>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}
