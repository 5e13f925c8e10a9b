//! Diagnostics on stderr.
//!
//! Kubelet captures the plugin's stderr and shows it only when the plugin fails, appended to
//! its own error line; stdout is reserved for the one JSON response. So every message here is a
//! single line on stderr, prefixed with the program name. Verbosity follows kubelet's `--v=N`
//! habit: 0 prints warnings and errors only, 1+ explains decisions, 4+ traces requests.

use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// The prefix of every stderr line.
pub const PREFIX: &str = "cloud-credential-provider";

/// Sets the verbosity for the rest of the process (from `-v`/`--v=N`).
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// Whether messages at `level` are printed.
pub fn enabled(level: u8) -> bool {
    VERBOSITY.load(Ordering::Relaxed) >= level
}

/// Prints a warning; always shown.
pub fn warn(message: &str) {
    eprintln!("{PREFIX}: warning: {message}");
}

/// Prints the one error line of a failed run.
pub fn error(message: &str) {
    eprintln!("{PREFIX}: error: {message}");
}

/// Prints an informational line when verbosity is at least `level`. Takes a closure so the
/// message is not even formatted on the quiet hot path.
pub fn info(level: u8, message: impl FnOnce() -> String) {
    if enabled(level) {
        eprintln!("{PREFIX}: {}", message());
    }
}
