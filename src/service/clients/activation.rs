//! Activation: a client with a username and activation code takes a seat.
//! This side checks the input, hands the attempt to
//! the group-commit writer (`activation_writer.rs`) and waits for its
//! answer.

use tokio::sync::oneshot;

use super::activation_writer::ActivationJob;
use super::{ActivateRequest, Activated};
use crate::domain::client::Machine;
use crate::domain::invite::normalize_code;
use crate::service::{Result, ServiceError, Services};
use crate::store::StoreError;

/// Activation attempts allowed per username and per address in a window
/// (reserved before the code is checked; given back unless the code was
/// wrong).
pub const ACTIVATION_FAILURES: i64 = 10;
pub(super) const WINDOW_MS: i64 = 15 * 60 * 1000;

impl Services {
    /// Activates a backup client with a username and activation code. In
    /// one transaction: the invite is checked, a seat of its type taken,
    /// the invite marked used, the installation and the audit row written.
    #[tracing::instrument(skip_all, fields(username = %req.username.trim()))]
    pub async fn activate(&self, req: &ActivateRequest, ip: Option<String>) -> Result<Activated> {
        let username = req.username.trim().to_lowercase();
        let keys = [
            format!("activate:user:{username}"),
            format!("activate:addr:{}", ip.as_deref().unwrap_or("-")),
        ];
        let machine = Machine::parse(&req.hostname, &req.os, &req.client_version)
            .map_err(ServiceError::Invalid)?;
        let code_hash = self
            .key
            .lookup_hash("activation", &normalize_code(req.activation_code.expose()));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let job = ActivationJob {
                username: username.clone(),
                code_hash: code_hash.clone(),
                machine: machine.clone(),
                ip: ip.clone(),
                limit_keys: keys.clone(),
            };
            let (reply, answer) = oneshot::channel();
            self.activations
                .tx
                .send((job, reply))
                .await
                .map_err(|_| anyhow::anyhow!("activation writer stopped"))?;
            let result = answer
                .await
                .map_err(|_| anyhow::anyhow!("activation writer dropped the request"))?;
            match result {
                Err(ServiceError::InvalidCredentials) => {
                    metrics::counter!("cc_activations_total", "result" => "invalid_credentials")
                        .increment(1);
                    return Err(ServiceError::InvalidCredentials);
                }
                // PostgreSQL may abort a transaction under contention
                // (deadlock, serialization): that is ours to retry, never
                // the client's 5xx.
                Err(ServiceError::Internal(e)) if attempt < 5 && is_retryable(&e) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                    continue;
                }
                Err(e) => {
                    if let ServiceError::Conflict { code, .. } = &e {
                        metrics::counter!("cc_activations_total", "result" => code.code())
                            .increment(1);
                    }
                    return Err(e);
                }
                Ok(a) => {
                    metrics::counter!("cc_activations_total", "result" => "ok").increment(1);
                    return Ok(a);
                }
            }
        }
    }
}

/// Whether a database error is contention that a retry resolves.
pub(super) fn is_retryable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreError>()
        .is_some_and(StoreError::is_contention)
}
