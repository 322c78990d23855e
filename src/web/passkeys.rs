//! Passkeys in the console: registration and removal on `/me`, sign-in
//! with a passkey alone on `/login`, and a passkey as the second step on
//! `/login/code`. The browser side is `static/passkeys.js` (served from
//! the binary): it asks `…/start` for options, calls
//! `navigator.credentials`, and posts the answer to `…/finish` as a form
//! (CSRF token included); the answers here are JSON. Without JavaScript
//! the buttons stay hidden and the password (+ code) path works as before.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::session::{self, PENDING_COOKIE, PreForm, SESSION_COOKIE};
use super::{AppState, CsrfForm, Lang, WebResult};
use crate::http::{ClientIp, ClientOrigin};
use crate::service::ServiceError;

/// A JSON refusal the script shows next to its button.
fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Service errors as JSON for the script (5xx stay the usual page).
fn refused(lang: Lang, e: ServiceError) -> WebResult {
    match e {
        ServiceError::Invalid(errors) => {
            let msg = errors
                .first()
                .map(|f| lang.t(&f.message))
                .unwrap_or_else(|| lang.t("error.passkey_failed"));
            Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, msg))
        }
        ServiceError::InvalidCredentials | ServiceError::SecondFactorInvalid => Ok(json_error(
            StatusCode::UNAUTHORIZED,
            lang.t("login.passkey_failed"),
        )),
        ServiceError::RateLimited { retry_after_secs } => {
            let mut r = json_error(StatusCode::TOO_MANY_REQUESTS, lang.t("login.rate_limited"));
            if let Ok(v) = retry_after_secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        ServiceError::NotFound => Ok(json_error(
            StatusCode::NOT_FOUND,
            lang.t("login.passkey_failed"),
        )),
        e => Err(e.into()),
    }
}

// --- /me: registration and removal ---

/// `POST /me/passkeys/start`: options for `navigator.credentials.create`.
pub async fn register_start(State(state): State<AppState>, f: CsrfForm<PasswordForm>) -> WebResult {
    let ctx = f.ctx;
    match state
        .services
        .start_passkey_registration(&ctx.actor, &ctx.session_token, &f.form.password)
        .await
    {
        Ok(c) => Ok(Json(c).into_response()),
        Err(e) => refused(ctx.lang, e),
    }
}

/// The operator's password, asked again before a passkey is added.
#[derive(serde::Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

#[derive(serde::Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: String,
}

/// `POST /me/passkeys/finish`: stores the new passkey under its name.
pub async fn register_finish(
    State(state): State<AppState>,
    f: CsrfForm<RegisterForm>,
) -> WebResult {
    let ctx = f.ctx;
    match state
        .services
        .finish_passkey_registration(
            &ctx.actor,
            &ctx.session_token,
            &f.form.challenge_id,
            &f.form.name,
            &f.form.credential,
        )
        .await
    {
        Ok(p) => Ok(Json(serde_json::json!({
            "id": p.id,
            "redirect": "/me?done=passkey_added#passkeys",
        }))
        .into_response()),
        Err(e) => refused(ctx.lang, e),
    }
}

/// `POST /me/passkeys/{id}/remove` (a plain form).
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    state.services.remove_passkey(&f.ctx.actor, &id).await?;
    Ok(Redirect::to("/me?done=passkey_removed#passkeys").into_response())
}

// --- /login: a passkey alone ---

/// `POST /login/passkey/start`: options for `navigator.credentials.get`,
/// any of this console's passkeys (the authenticator picks the account).
pub async fn sign_in_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    PreForm { pre, lang, .. }: PreForm<serde::de::IgnoredAny>,
) -> WebResult {
    match state.services.start_passkey_sign_in(&pre, &ip).await {
        Ok(c) => Ok(Json(c).into_response()),
        Err(e) => refused(lang, e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct FinishForm {
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    next: String,
}

/// A full session's cookie (and the half one dropped), and where to go.
async fn signed_in(
    state: &AppState,
    jar: CookieJar,
    actor: &crate::service::Actor,
    origin: &crate::service::auth::Origin,
    next: &str,
) -> WebResult {
    let s = state
        .services
        .create_session(actor.operator_id, origin)
        .await?;
    let max_age = (s.expires_at - crate::domain::now_millis()) / 1000;
    let jar = jar
        .add(session::new_cookie(
            state,
            SESSION_COOKIE,
            s.token.expose().clone(),
            max_age,
        ))
        .add(session::new_cookie(state, PENDING_COOKIE, String::new(), 0));
    let next = super::auth::safe_next(next);
    Ok((jar, Json(serde_json::json!({ "redirect": next }))).into_response())
}

/// `POST /login/passkey/finish`: signs in, or 401.
pub async fn sign_in_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, pre, lang }: PreForm<FinishForm>,
) -> WebResult {
    match state
        .services
        .finish_passkey_sign_in(&pre, &f.challenge_id, &f.credential, origin.ip.clone())
        .await
    {
        Ok(actor) => signed_in(&state, jar, &actor, &origin, &f.next).await,
        Err(e) => refused(lang, e),
    }
}

// --- /login/code: a passkey as the second step ---

/// `POST /login/code/passkey/start`: options naming the operator's own
/// passkeys.
pub async fn second_start(
    State(state): State<AppState>,
    jar: CookieJar,
    PreForm { lang, .. }: PreForm<serde::de::IgnoredAny>,
) -> WebResult {
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            lang.t("login.passkey_failed"),
        ));
    };
    match state.services.start_passkey_second_factor(&pending).await {
        Ok(c) => Ok(Json(c).into_response()),
        Err(e) => refused(lang, e),
    }
}

/// `POST /login/code/passkey/finish`: the second step done, or 401.
pub async fn second_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, lang, .. }: PreForm<FinishForm>,
) -> WebResult {
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            lang.t("login.passkey_failed"),
        ));
    };
    match state
        .services
        .finish_passkey_second_factor(&pending, &f.challenge_id, &f.credential, origin.ip.clone())
        .await
    {
        Ok(actor) => signed_in(&state, jar, &actor, &origin, &f.next).await,
        Err(e) => refused(lang, e),
    }
}

// --- /login/enrol: a passkey as the second factor two factors require ---

/// The operator behind an `enrol` half session and its cookie value.
async fn enrolling(
    state: &AppState,
    jar: &CookieJar,
    ip: Option<String>,
) -> WebResult<Option<(crate::service::Actor, String)>> {
    let Some(pending) = jar.get(PENDING_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    Ok(match state.services.pending_actor(&pending, ip).await? {
        Some((actor, stage)) if stage == "enrol" => Some((actor, pending)),
        _ => None,
    })
}

/// `POST /login/enrol/passkey/start`: registration options for an
/// operator who must set up a second factor before anything else.
pub async fn enrol_start(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { lang, .. }: PreForm<serde::de::IgnoredAny>,
) -> WebResult {
    let Some((actor, pending)) = enrolling(&state, &jar, origin.ip).await? else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            lang.t("login.passkey_failed"),
        ));
    };
    match state
        .services
        .start_enrolment_passkey(&actor, &pending)
        .await
    {
        Ok(c) => Ok(Json(c).into_response()),
        Err(e) => refused(lang, e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct EnrolForm {
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    next: String,
}

/// `POST /login/enrol/passkey/finish`: the passkey is stored, the half
/// session ends and a full one begins.
pub async fn enrol_finish(
    State(state): State<AppState>,
    jar: CookieJar,
    ClientOrigin(origin): ClientOrigin,
    PreForm { form: f, lang, .. }: PreForm<EnrolForm>,
) -> WebResult {
    let Some((actor, pending)) = enrolling(&state, &jar, origin.ip.clone()).await? else {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            lang.t("login.passkey_failed"),
        ));
    };
    if let Err(e) = state
        .services
        .finish_passkey_registration(&actor, &pending, &f.challenge_id, &f.name, &f.credential)
        .await
    {
        return refused(lang, e);
    }
    state
        .services
        .finish_enrolment_sign_in(&pending, &actor)
        .await?;
    signed_in(&state, jar, &actor, &origin, &f.next).await
}
