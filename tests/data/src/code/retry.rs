//! Retry helper with exponential backoff.
//!
//! Transient failures (network timeouts, HTTP 503) are retried with an
//! exponentially growing delay: the base delay is 200 ms and it doubles
//! after every failed attempt, up to a maximum of 5 attempts in total.

use std::thread::sleep;
use std::time::Duration;

/// Delay before the first retry.
pub const BASE_DELAY: Duration = Duration::from_millis(200);

/// Maximum number of attempts, including the first call.
pub const MAX_ATTEMPTS: u32 = 5;

/// Returns the delay to wait after `attempt` failures (1-based):
/// 200 ms, 400 ms, 800 ms, 1600 ms.
pub fn backoff_delay(attempt: u32) -> Duration {
    BASE_DELAY * 2u32.pow(attempt.saturating_sub(1))
}

/// Calls `op` until it succeeds or `MAX_ATTEMPTS` attempts have failed.
///
/// The error of the last attempt is returned if every attempt fails.
pub fn retry<T, E>(mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut attempt = 1;
    loop {
        match op() {
            Ok(value) => return Ok(value),
            Err(err) if attempt >= MAX_ATTEMPTS => return Err(err),
            Err(_) => {
                sleep(backoff_delay(attempt));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double() {
        assert_eq!(backoff_delay(1), Duration::from_millis(200));
        assert_eq!(backoff_delay(4), Duration::from_millis(1600));
    }
}
