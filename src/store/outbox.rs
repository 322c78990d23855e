//! The outbox: messages written in the same transaction as the request
//! that wants them sent, delivered by the mail worker.

use sqlx::AnyConnection;

use super::{Backend, Result};
use crate::domain::message::MessageKind;
use crate::domain::{InviteId, MessageId, Millis};

/// A claimed message. `kind` stays text on purpose: a row of an unknown
/// kind must fail alone in the worker (it parses it per message), not make
/// every claim of the batch fail and stall the queue behind it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: MessageId,
    pub kind: String,
    pub invite_id: Option<InviteId>,
    pub recipient: String,
    pub attempts: i64,
    pub payload: Option<String>,
}

pub async fn enqueue(
    conn: &mut AnyConnection,
    id: MessageId,
    kind: MessageKind,
    invite_id: Option<InviteId>,
    recipient: &str,
    payload: Option<&str>,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, invite_id, recipient, state, next_attempt_at, payload, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $5)",
    )
    .bind(id.to_db())
    .bind(kind.as_str())
    .bind(invite_id.map(|i| i.to_db()))
    .bind(recipient)
    .bind(now)
    .bind(payload)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues one invitation message per `(message id, invite, recipient)` in
/// one statement (a send request of a thousand invites writes its outbox
/// rows at once, not a thousand times).
pub async fn enqueue_invites(
    conn: &mut AnyConnection,
    rows: &[(MessageId, InviteId, &str)],
    now: Millis,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    use super::JsonCol::{Int, Text};
    let kind = MessageKind::Invite.as_str();
    let values: Vec<_> = rows
        .iter()
        .map(|(id, invite, to)| (id.to_db(), kind, invite.to_db(), *to, "pending", now, now))
        .collect();
    let sql = super::json_insert(
        conn,
        "outbox",
        1,
        &[
            ("id", Text),
            ("kind", Text),
            ("invite_id", Text),
            ("recipient", Text),
            ("state", Text),
            ("next_attempt_at", Int),
            ("created_at", Int),
        ],
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&values)?)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Which of these invites already have a message waiting or being sent,
/// in one query.
pub async fn invites_in_flight(
    conn: &mut AnyConnection,
    invites: &[InviteId],
) -> Result<std::collections::HashSet<InviteId>> {
    if invites.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<String> = invites.iter().map(|i| i.to_db()).collect();
    let sql = format!(
        "SELECT DISTINCT invite_id FROM outbox WHERE invite_id IN ({}) \
         AND state IN ('pending', 'sending')",
        super::json_list(conn, 1)
    );
    let found: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&ids)?)
        .fetch_all(&mut *conn)
        .await?;
    found
        .into_iter()
        .map(|s| {
            s.parse()
                .map_err(|e| super::StoreError::Corrupt(format!("outbox invite id {s:?}: {e}")))
        })
        .collect()
}

/// Claims up to `limit` due messages for `lease_ms`: pending ones whose
/// time has come, and ones whose sender's lease ran out (it died). On
/// PostgreSQL rows locked by another instance's claim are skipped, so two
/// instances never take the same message; on SQLite the single writer
/// makes the statement atomic.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    now: Millis,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET state = 'sending', lease_until = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= $1) \
          OR (state = 'sending' AND lease_until < $1) ORDER BY next_attempt_at LIMIT $3{lock}) \
         RETURNING id, kind, invite_id, recipient, attempts, payload"
    )))
    .bind(now)
    .bind(now + lease_ms)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks a group of delivered messages sent, in one statement.
pub async fn mark_sent_many(
    conn: &mut AnyConnection,
    ids: &[MessageId],
    now: Millis,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = ids.iter().map(|i| i.to_db()).collect();
    let sql = format!(
        "UPDATE outbox SET state = 'sent', sent_at = $2, lease_until = NULL, last_error = NULL \
         WHERE id IN ({})",
        super::json_list(conn, 1)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(super::json_param(&ids)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn mark_retry(
    conn: &mut AnyConnection,
    id: MessageId,
    next_attempt_at: Millis,
    error: &str,
) -> Result<()> {
    sqlx::query("UPDATE outbox SET state = 'pending', next_attempt_at = $2, lease_until = NULL, last_error = $3 WHERE id = $1")
        .bind(id.to_db())
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(conn: &mut AnyConnection, id: MessageId, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1",
    )
    .bind(id.to_db())
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// When the next pending message is due (for the worker's sleep).
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<Millis>> {
    Ok(sqlx::query_scalar(
        "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) FROM outbox \
         WHERE state IN ('pending', 'sending')",
    )
    .fetch_one(&mut *conn)
    .await?)
}
