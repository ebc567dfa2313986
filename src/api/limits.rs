//! Per-token rate limits: an in-memory token bucket per API token, kept in `AppState` (so per process, reset on restart).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A bucket of `capacity` requests per token, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

/// Past this many tokens tracked, full buckets are forgotten (they are the same as new ones).
const PRUNE_AT: usize = 10_000;

impl Default for RateLimiter {
    /// 120 requests in a burst, then 2 a second (120 a minute).
    fn default() -> Self {
        Self::new(120, 2.0)
    }
}

impl RateLimiter {
    pub fn new(capacity: u32, per_second: f64) -> Self {
        Self {
            capacity: f64::from(capacity.max(1)),
            per_second: per_second.max(0.001),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `token_id`'s bucket, or says how many seconds until one is there.
    pub fn check(&self, token_id: i64) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= PRUNE_AT {
            let (capacity, rate) = (self.capacity, self.per_second);
            buckets.retain(|_, (level, at)| *level + now.duration_since(*at).as_secs_f64() * rate < capacity);
        }
        let (level, at) = buckets.entry(token_id).or_insert((self.capacity, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.capacity);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *level) / self.per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_wait() {
        let limiter = RateLimiter::new(2, 0.5);
        assert_eq!(limiter.check(1), Ok(()));
        assert_eq!(limiter.check(1), Ok(()));
        assert_eq!(limiter.check(1), Err(2));
        // Another token has its own bucket.
        assert_eq!(limiter.check(2), Ok(()));
    }
}
