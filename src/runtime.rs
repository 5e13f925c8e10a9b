//! The async runtime, started only by backends that talk to the network.
//!
//! The cloud SDKs are async. A run serves one image, so a current-thread tokio runtime is
//! enough: it costs microseconds to build, spawns no threads, and is built only after the
//! router has chosen a cloud backend, never for a host that needs none. Every future runs
//! under the run's [`Deadline`], so whatever a library does internally (retries, slow
//! metadata servers) the run answers before kubelet's 60 s kill.

use std::future::Future;

use crate::deadline::Deadline;
use crate::error::{Error, Result};

/// Runs `future` to completion, or fails with `on_timeout()` when the deadline passes first.
/// `on_timeout` builds the error so it can name the backend, registry and identity.
pub fn block_on<T>(
    deadline: Deadline,
    on_timeout: impl FnOnce() -> Error,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        match tokio::time::timeout(deadline.remaining(), future).await {
            Ok(result) => result,
            Err(_) => Err(on_timeout()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_slow_future_is_cut_at_the_deadline() {
        let started = Instant::now();
        let result: Result<()> = block_on(
            Deadline::after(Duration::from_millis(100)),
            || Error::Io("deadline".into()),
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            },
        );
        assert_eq!(result, Err(Error::Io("deadline".into())));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_quick_future_returns_its_value() {
        let value = block_on(
            Deadline::after(Duration::from_secs(5)),
            || unreachable!(),
            async { Ok(7) },
        );
        assert_eq!(value, Ok(7));
    }
}
