//! Operations. Each one is written once here — permission check, validation,
//! transaction, audit row — and called by the UI, the admin API and the
//! client API alike.

pub mod alerts;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod clients;
pub mod customers;
pub mod exports;
pub mod history;
pub mod import;
pub mod invites;
pub mod licenses;
pub mod limits;
pub mod monitoring;
pub mod operators;
pub mod passkeys;
pub mod password_reset;
pub mod repositories;
pub mod repository_files;
pub mod retention;
pub mod two_factor;
pub mod usage;
pub mod vendors;
pub mod webhook_worker;
pub mod webhooks;

use std::sync::Arc;

use crate::config::Config;
use crate::domain::api_token::{Scopes, TokenScope};
use crate::domain::{Conflict, FieldError, Millis, OperatorId, Role, VendorId};
use crate::keys::ServerKey;
use crate::store::{self, Store, StoreError};

/// Everything an operation needs: the store, the server key, the settings.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Store,
    pub key: ServerKey,
    pub config: Arc<Config>,
    /// Wakes the mail worker when something was queued.
    pub mail_wakeup: Arc<tokio::sync::Notify>,
    /// Wakes the webhook worker when an event was queued.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
    /// Who subscribes to which webhook event (cached a few seconds).
    pub subscriptions: Arc<webhooks::Subscriptions>,
    /// The group-commit writer of backup reports.
    pub reports: clients::Reports,
    /// Recently seen client tokens.
    pub client_cache: Arc<clients::ClientCache>,
    /// The group-commit writer of activations.
    pub activations: Arc<clients::ActivationSink>,
    /// Both writers' tasks, stopped by [`Services::stop_writers`].
    pub writers: Arc<clients::Writers>,
    /// Recent Monitoring summary lines (counting every client costs
    /// ~0.2 s at 100,000 clients on SQLite; a few seconds old is fine).
    pub summaries: Arc<monitoring::SummaryCache>,
}

impl Services {
    /// Drains the group-commit writers and waits for them to stop (after
    /// the HTTP server stopped, before the database closes).
    pub async fn stop_writers(&self) {
        self.writers.stop().await;
    }

    /// Which database this console runs on (SQLite or PostgreSQL).
    pub fn database_name(&self) -> &'static str {
        self.store.backend().name()
    }
}

/// The signed-in person on whose behalf an operation runs.
#[derive(Debug, Clone)]
pub struct Actor {
    pub operator_id: OperatorId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub vendor_name: Option<String>,
    /// The client address, for the audit log.
    pub ip: Option<String>,
    /// Set when the actor came with an API token: its scopes limit what
    /// the operator's role allows.
    pub token: Option<TokenGrant>,
}

/// The API token an actor came with.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub id: String,
    /// None for a token made by signing in with e-mail and password.
    pub name: Option<String>,
    pub scopes: crate::domain::api_token::Scopes,
}

/// Which vendors' data an actor may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Vendor(VendorId),
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn scope(&self) -> Scope {
        match (self.role, self.vendor_id) {
            (Role::Admin, _) => Scope::All,
            (_, Some(v)) => Scope::Vendor(v),
            // A non-admin without a vendor cannot exist (a CHECK constraint);
            // were it to, it sees nothing rather than everything.
            (_, None) => Scope::Vendor(VendorId(uuid::Uuid::nil())),
        }
    }

    /// Whether this actor may see an object owned by `vendor`.
    pub fn can_see(&self, vendor: VendorId) -> bool {
        match self.scope() {
            Scope::All => true,
            Scope::Vendor(v) => v == vendor,
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if !self.is_admin() {
            return Err(ServiceError::Forbidden);
        }
        self.require_scope(TokenScope::Admin)
    }

    pub fn require_write(&self) -> Result<()> {
        if !self.role.can_write() {
            return Err(ServiceError::Forbidden);
        }
        self.require_scope(TokenScope::Write)
    }

    /// Refuses an API token without `scope` (sessions hold every scope).
    pub fn require_scope(&self, scope: TokenScope) -> Result<()> {
        match &self.token {
            Some(t) if !t.scopes.has(scope) => Err(ServiceError::InsufficientScope(scope)),
            _ => Ok(()),
        }
    }

    /// The scopes the actor holds: a token's, or every one for a session.
    pub fn scopes(&self) -> Scopes {
        self.token
            .as_ref()
            .map(|t| t.scopes)
            .unwrap_or(Scopes::FULL)
    }

    fn audit_label(&self) -> String {
        match self.token.as_ref().and_then(|t| t.name.as_deref()) {
            Some(name) => format!("{name} ({})", self.email),
            None => self.email.clone(),
        }
    }

    fn audit_kind(&self) -> &'static str {
        match self.token.as_ref().and_then(|t| t.name.as_deref()) {
            Some(_) => "api_token",
            None => "operator",
        }
    }
}

/// The error of every operation; the faces map it to HTTP in one place each.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// A rule refused these values (e.g. seats below those in use): a
    /// conflict with the current state, reported at the fields.
    #[error("refused: {code}")]
    Refused {
        code: Conflict,
        errors: Vec<FieldError>,
    },
    #[error("not found")]
    NotFound,
    #[error("not allowed")]
    Forbidden,
    /// An API token without the scope this needs.
    #[error("insufficient scope")]
    InsufficientScope(crate::domain::api_token::TokenScope),
    #[error("{message}")]
    Conflict { code: Conflict, message: String },
    /// Some of the invites to send were sent before or are on their way:
    /// nothing was queued; sending them again needs the caller's yes.
    #[error("{} invite(s) already sent", invites.len())]
    AlreadySent {
        invites: Vec<crate::domain::InviteId>,
    },
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right; a TOTP or recovery code is needed too.
    #[error("second factor required")]
    SecondFactorRequired,
    /// The password was right, but two factors are required and the
    /// operator has not set one up: they must enrol first.
    #[error("second factor enrolment required")]
    SecondFactorEnrolmentRequired,
    /// A wrong, reused or expired TOTP or recovery code.
    #[error("invalid second factor")]
    SecondFactorInvalid,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    /// A refusal with its usual sentence.
    pub fn conflict(code: Conflict) -> ServiceError {
        ServiceError::Conflict {
            code,
            message: code.message().to_string(),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            // The database's message names tables, columns and sometimes
            // the values: it is for the log, not for the caller. Operations
            // that expect a clash map it to their own code and words first.
            StoreError::Unique(m) => {
                tracing::warn!(detail = %m, "unmapped unique violation");
                ServiceError::Conflict {
                    code: Conflict::AlreadyExists,
                    message: "This already exists.".into(),
                }
            }
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Invalid(vec![e])
    }
}

/// One page of a list and the cursor for the next (`null` on the last
/// page). Every list of the API answers in this shape.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A list that is never paged (it is short by nature).
    pub fn all(items: Vec<T>) -> Page<T> {
        Page {
            items,
            next_cursor: None,
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// An id from a path, query or form. One that does not parse is "not
/// found", exactly like one that does not exist (the faces never say more).
pub fn path_id<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse().map_err(|_| ServiceError::NotFound)
}

/// Writes an audit row for a change made by `actor`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    conn: &mut store::Conn,
    actor: &Actor,
    now: Millis,
    vendor: Option<VendorId>,
    action: &str,
    target_kind: &str,
    target_id: Option<String>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<()> {
    let label = actor.audit_label();
    store::audit::insert(
        conn,
        &store::audit::NewAudit {
            at: now,
            actor_kind: actor.audit_kind(),
            actor_id: Some(actor.operator_id.to_db()),
            actor_label: &label,
            vendor_id: vendor,
            action,
            target_kind,
            target_id,
            before,
            after,
            ip: actor.ip.clone(),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmapped_unique_violation_does_not_leak_the_database_message() {
        let e = ServiceError::from(StoreError::Unique(
            "duplicate key value violates unique constraint \"customers_vat_id_key\"".into(),
        ));
        match e {
            ServiceError::Conflict { code, message } => {
                assert_eq!(code, Conflict::AlreadyExists);
                assert_eq!(message, "This already exists.");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
}
