//! Turns for generations: a few run, some wait, the rest are told to come back (429).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;

pub(crate) struct Gate {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Gives the waiting count back however the wait ends (granted, or the client left).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub(crate) fn new(max_running: usize, max_waiting: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(max_running.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A turn: at once, after waiting, or 429 when too many already wait.
    pub(crate) async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!(
                    "{} generations are already waiting for the model; try again shortly",
                    self.max_waiting
                ),
            );
            e.retry_after = Some(5);
            return Err(e);
        }
        let _waiting = Waiting(&self.waiting);
        self.running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::invalid("the server is shutting down"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_queue_then_refuse_with_retry_after() {
        let gate = Gate::new(1, 1);
        let first = gate.enter().await.unwrap();
        // one may wait…
        let waiting = async { gate.enter().await.map(|_| ()) };
        let third = async {
            tokio::task::yield_now().await;
            gate.enter().await.map(|_| ())
        };
        let release = async {
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            drop(first);
        };
        let (w, t, ()) = tokio::join!(waiting, third, release);
        assert!(w.is_ok());
        // …the next one is refused while the queue is full
        let e = t.unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(5));
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }
}
