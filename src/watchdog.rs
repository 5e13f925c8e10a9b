//! The last guard of `--timeout`: a thread that ends the run once its deadline has passed.
//!
//! Every network step takes its timeout from the run's [`Deadline`], and every file this
//! binary reads itself is bounded ([`crate::local_file`]). What is left is code that is not
//! ours and blocks where no deadline reaches it: the AWS SDK reads the files a profile names
//! with blocking reads on the run's only thread, and any read on a hung network file system
//! blocks. Kubelet kills a plugin after 60 s and then has nothing, not even an error line. So
//! a thread sleeps until the deadline plus [`GRACE`] and, if the run has not begun to answer by
//! then, prints one error line and exits with status 1.
//!
//! The run and the watchdog race for one flag, and whoever takes it first ends the process:
//! the run takes it ([`finish`]) before it writes its answer or its error line, so the
//! watchdog never cuts an answer in half or adds a second error.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::deadline::Deadline;
use crate::duration::format_go_duration;
use crate::log;

/// How long after the deadline the watchdog fires.
///
/// The steps that honour the deadline end at it and report their own, more precise error
/// within milliseconds; a second keeps that error from being pre-empted on a busy node, and
/// the longest `--timeout` (55 s) plus this still ends well before kubelet's 60 s kill.
pub const GRACE: Duration = Duration::from_secs(1);

/// Nobody has begun to end the run.
const RUNNING: u8 = 0;
/// The run is writing its answer or its error.
const FINISHING: u8 = 1;
/// The watchdog fired and is ending the process.
const FIRED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(RUNNING);

/// Starts the watchdog for a run with `deadline` (`timeout` is only for the message). Without
/// a thread (the system refused one) the run goes on unguarded: that is no reason to fail it.
pub fn arm(deadline: Deadline, timeout: Duration) {
    let _ = std::thread::Builder::new()
        .name("watchdog".into())
        .stack_size(64 << 10)
        .spawn(move || {
            std::thread::sleep(deadline.remaining() + GRACE);
            if STATE
                .compare_exchange(RUNNING, FIRED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                log::error(&format!(
                    "no answer within --timeout {}: a step that does not honour the deadline \
                     was still running (a file that blocks when read, a hung file system?)",
                    format_go_duration(timeout)
                ));
                std::process::exit(1);
            }
        });
}

/// Claims the end of the run for the caller, who then writes the answer or the error line.
/// If the watchdog has fired already, the process is exiting: this never returns then.
pub fn finish() {
    match STATE.compare_exchange(RUNNING, FINISHING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) | Err(FINISHING) => {}
        Err(_) => loop {
            std::thread::park();
        },
    }
}
