//! Limits that hold under parallel attack: attempts are reserved in the
//! database before a secret is verified (so a burst of parallel guesses
//! gets at most the limit evaluated, on every instance together), and
//! password hashing — ~19 MiB and ~17 ms of CPU each — runs a few at a
//! time, so a flood of sign-ins cannot take the memory.

use std::time::Duration;

use tokio::sync::Semaphore;

use super::{Result, ServiceError, Services};
use crate::domain::{Millis, now_millis};
use crate::store::{self, StoreError};

/// Reserves one attempt under each `(key, limit)` inside `tx`: `Ok(None)`
/// when reserved, `Ok(Some(seconds))` when a key is at its limit — the
/// caller then drops `tx` (rolling back what this call took of the
/// earlier keys) and answers 429 with that Retry-After.
pub(crate) async fn reserve_in(
    tx: &mut store::Conn,
    keys: &[(&str, i64)],
    window_ms: i64,
    now: Millis,
) -> Result<Option<u64>> {
    for &(key, limit) in keys {
        if !store::ratelimit::reserve(tx, key, limit, window_ms, now).await? {
            let (_, start) = store::ratelimit::failures(tx, &[key], window_ms, now)
                .await?
                .into_iter()
                .next()
                .unwrap_or((0, now));
            return Ok(Some(((start + window_ms - now) / 1000).max(1) as u64));
        }
    }
    Ok(None)
}

impl Services {
    /// Reserves one attempt under each `(key, limit)` in a transaction of
    /// its own; 429 when any key is at its limit (nothing reserved then).
    pub(crate) async fn reserve_attempts(
        &self,
        keys: &[(&str, i64)],
        window_ms: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        match reserve_in(&mut tx, keys, window_ms, now_millis()).await? {
            None => {
                tx.commit().await.map_err(StoreError::from)?;
                Ok(())
            }
            Some(retry_after_secs) => Err(ServiceError::RateLimited { retry_after_secs }),
        }
    }
}

/// Password hashes computed at once, at most; more wait in a short queue.
const HASHING_AT_ONCE: usize = 4;
/// How long a sign-in waits for its turn before it is told to come back.
const HASHING_WAIT: Duration = Duration::from_secs(5);

fn hashing() -> &'static Semaphore {
    static S: Semaphore = Semaphore::const_new(HASHING_AT_ONCE);
    &S
}

/// Runs one password hash (argon2) when a slot is free: at most
/// [`HASHING_AT_ONCE`] at a time; one that waited [`HASHING_WAIT`] in vain
/// is refused with 429 and Retry-After.
pub(crate) async fn with_hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let permit = tokio::time::timeout(HASHING_WAIT, hashing().acquire())
        .await
        .map_err(|_| ServiceError::RateLimited {
            retry_after_secs: 2,
        })?
        .map_err(|e| anyhow::anyhow!("hashing semaphore closed: {e}"))?;
    let out = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    drop(permit);
    Ok(out)
}
