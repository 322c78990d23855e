//! Sign-in sessions, API tokens and one-time setup tokens. Only keyed hashes
//! of the tokens are stored.

use sqlx::AnyConnection;

use super::Result;
use crate::domain::{Millis, OperatorId, Role, TokenId, VendorId};

/// Who a session or API token belongs to, loaded in one query on every
/// authenticated request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrincipalRow {
    pub operator_id: OperatorId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub vendor_name: Option<String>,
    pub csrf_token: String,
    pub expires_at: i64,
    /// The session's id or the API token's id (what the owner may name).
    pub handle: String,
    pub last_used_at: Option<i64>,
    /// An API token's name (none for sessions and sign-in tokens).
    pub token_name: Option<String>,
    /// An API token's scopes (none for sessions).
    pub token_scopes: Option<String>,
}

/// Where a session or token comes from, kept to show its owner.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A signed-in session or a live API token, for its owner's list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// `session` or `api_token`.
    pub kind: String,
    pub id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: i64,
}

/// The operator behind a live session, if the session exists, has not
/// expired, is past sign-in's second step (stage `full`), and neither the
/// operator nor its vendor is disabled.
pub async fn find_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<PrincipalRow>> {
    Ok(sqlx::query_as(
        "SELECT o.id AS operator_id, o.email, o.name, o.role, o.vendor_id, v.name AS vendor_name, \
         s.csrf_token, s.expires_at, s.id AS handle, s.last_used_at, \
         CAST(NULL AS TEXT) AS token_name, CAST(NULL AS TEXT) AS token_scopes \
         FROM sessions s JOIN operators o ON o.id = s.operator_id \
         LEFT JOIN vendors v ON v.id = o.vendor_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.stage = 'full' \
         AND o.disabled_at IS NULL \
         AND v.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

/// A new session row. `stage` is `full`, or `totp`/`enrol` for the half
/// signed-in state between the password and the second factor.
pub struct NewSessionRow<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub operator: OperatorId,
    pub csrf_token: &'a str,
    pub stage: &'a str,
    pub origin: &'a Origin,
    pub now: Millis,
    pub expires_at: Millis,
}

pub async fn insert_session(conn: &mut AnyConnection, s: &NewSessionRow<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, operator_id, csrf_token, created_at, expires_at, \
         id, stage, user_agent, ip, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $4)",
    )
    .bind(s.token_hash)
    .bind(s.operator.to_db())
    .bind(s.csrf_token)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.id)
    .bind(s.stage)
    .bind(s.origin.user_agent.as_deref())
    .bind(s.origin.ip.as_deref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A half signed-in session (stage `totp` or `enrol`) that has not
/// expired: its operator and stage.
pub async fn find_pending_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<(OperatorId, String)>> {
    Ok(sqlx::query_as(
        "SELECT s.operator_id, s.stage FROM sessions s JOIN operators o ON o.id = s.operator_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.stage <> 'full' \
         AND o.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Notes that a session was used (the caller does it at most once a minute).
pub async fn touch_session(conn: &mut AnyConnection, token_hash: &str, now: Millis) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Notes that an API token was used, and from where.
pub async fn touch_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
    ip: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2, last_used_ip = $3 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .bind(ip)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An operator's signed-in sessions and live API tokens, newest first.
pub async fn list_for_operator(
    conn: &mut AnyConnection,
    operator: OperatorId,
    now: Millis,
) -> Result<Vec<SessionRow>> {
    Ok(sqlx::query_as(
        "SELECT kind, id, user_agent, ip, created_at, last_used_at, expires_at FROM ( \
           SELECT 'session' AS kind, id, user_agent, ip, created_at, last_used_at, expires_at \
           FROM sessions WHERE operator_id = $1 AND stage = 'full' AND expires_at > $2 \
           UNION ALL \
           SELECT 'api_token' AS kind, id, user_agent, ip, created_at, last_used_at, expires_at \
           FROM api_tokens WHERE operator_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ) AS x ORDER BY created_at DESC, id",
    )
    .bind(operator.to_db())
    .bind(now)
    .fetch_all(&mut *conn)
    .await?)
}

/// Ends one of an operator's sessions by its id; false if there is none.
pub async fn delete_session_by_id(
    conn: &mut AnyConnection,
    operator: OperatorId,
    id: &str,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND operator_id = $2")
        .bind(id)
        .bind(operator.to_db())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Revokes one of an operator's API tokens by its id; false if there is
/// no live one.
pub async fn revoke_api_token_by_id(
    conn: &mut AnyConnection,
    operator: OperatorId,
    id: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND operator_id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(operator.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Ends every session and revokes every API token of an operator.
pub async fn revoke_all_for_operator(
    conn: &mut AnyConnection,
    operator: OperatorId,
    now: Millis,
) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE operator_id = $1")
        .bind(operator.to_db())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE operator_id = $1 AND revoked_at IS NULL",
    )
    .bind(operator.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends every session and token of a vendor's operators.
pub async fn revoke_all_for_vendor(
    conn: &mut AnyConnection,
    vendor: VendorId,
    now: Millis,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM sessions WHERE operator_id IN (SELECT id FROM operators WHERE vendor_id = $1)",
    )
    .bind(vendor.to_db())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND operator_id IN \
         (SELECT id FROM operators WHERE vendor_id = $1)",
    )
    .bind(vendor.to_db())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_expired(conn: &mut AnyConnection, now: Millis) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

// --- API tokens ---

/// A new API token row. A sign-in token has no name and every scope.
pub struct NewApiToken<'a> {
    pub id: TokenId,
    pub token_hash: &'a str,
    pub operator: OperatorId,
    pub name: Option<&'a str>,
    pub scopes: &'a str,
    pub origin: &'a Origin,
    pub now: Millis,
    pub expires_at: Millis,
}

pub async fn insert_api_token(conn: &mut AnyConnection, t: &NewApiToken<'_>) -> Result<()> {
    let (id, token_hash, operator, origin, now, expires_at) = (
        t.id,
        t.token_hash,
        t.operator,
        t.origin,
        t.now,
        t.expires_at,
    );
    sqlx::query(
        "INSERT INTO api_tokens (id, token_hash, operator_id, created_at, expires_at, \
         user_agent, ip, last_used_at, name, scopes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $8, $9)",
    )
    .bind(id.to_db())
    .bind(token_hash)
    .bind(operator.to_db())
    .bind(now)
    .bind(expires_at)
    .bind(origin.user_agent.as_deref())
    .bind(origin.ip.as_deref())
    .bind(t.name)
    .bind(t.scopes)
    // A named token shows "never used" until it is; a sign-in token was
    // just used to sign in.
    .bind(if t.name.is_some() { None } else { Some(now) })
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A live API token as its list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: Option<String>,
    pub scopes: String,
    pub operator_id: OperatorId,
    pub creator_email: String,
    pub vendor_id: Option<VendorId>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

const TOKEN_COLUMNS: &str = "t.id, t.name, t.scopes, t.operator_id, o.email AS creator_email, \
     o.vendor_id, t.created_at, t.expires_at, t.last_used_at, t.last_used_ip \
     FROM api_tokens t JOIN operators o ON o.id = t.operator_id";

/// Live (not revoked, not expired) tokens: of one vendor's operators, or
/// every one (`None`). Newest first.
pub async fn list_api_tokens(
    conn: &mut AnyConnection,
    vendor: Option<VendorId>,
    now: Millis,
) -> Result<Vec<ApiTokenRow>> {
    let live = "t.revoked_at IS NULL AND t.expires_at > $1";
    let order = "ORDER BY t.created_at DESC, t.id";
    Ok(match vendor {
        Some(v) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} WHERE {live} AND o.vendor_id = $2 {order}"
            )))
            .bind(now)
            .bind(v.to_db())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} WHERE {live} {order}"
            )))
            .bind(now)
            .fetch_all(&mut *conn)
            .await?
        }
    })
}

/// One live token by its id.
pub async fn get_api_token(
    conn: &mut AnyConnection,
    id: &str,
    now: Millis,
) -> Result<Option<ApiTokenRow>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} WHERE t.id = $1 AND t.revoked_at IS NULL AND t.expires_at > $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Revokes a token by its id; false if it was not live.
pub async fn revoke_api_token_id(conn: &mut AnyConnection, id: &str, now: Millis) -> Result<bool> {
    let r =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() > 0)
}

/// The operator behind a live API token. `csrf_token` is empty (bearer
/// tokens are not sent by browsers on their own, so CSRF does not apply).
pub async fn find_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<Option<PrincipalRow>> {
    Ok(sqlx::query_as(
        "SELECT o.id AS operator_id, o.email, o.name, o.role, o.vendor_id, v.name AS vendor_name, \
         '' AS csrf_token, t.expires_at, t.id AS handle, t.last_used_at, \
         t.name AS token_name, t.scopes AS token_scopes \
         FROM api_tokens t JOIN operators o ON o.id = t.operator_id \
         LEFT JOIN vendors v ON v.id = o.vendor_id \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND t.revoked_at IS NULL \
         AND o.disabled_at IS NULL AND v.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn revoke_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

// --- one-time setup tokens ---

pub async fn insert_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// True if the token exists, is unused and not expired.
pub async fn setup_token_valid(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Marks a setup token used; false if it was not valid (so two racing
/// requests cannot both use it).
pub async fn use_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: Millis,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
