//! Licenses → Invites: the seed's step 3, "Define user".

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::{CustomerId, InviteId, LicenseId};
use crate::service::ServiceError;
use crate::service::customers::Customer;
use crate::service::invites::{Invite, InviteInput};
use crate::service::licenses::License;
use crate::service::path_id;

#[derive(askama::Template)]
#[template(path = "customer_invites.html")]
struct InvitesPage {
    page: Page,
    customer: Customer,
    licenses: Vec<License>,
    license: Option<License>,
    invites: Vec<Invite>,
    /// Computers of the license a new invite may replace.
    replaceable: Vec<crate::service::clients::Installation>,
    form: InviteForm,
    errors: FormErrors,
    over_standard: i64,
    over_server: i64,
    added: Option<String>,
    tab: &'static str,
}

/// "Revoke this invite?": a page of its own, so a stray click changes
/// nothing (works without JavaScript).
#[derive(askama::Template)]
#[template(path = "invite_revoke.html")]
struct RevokePage {
    page: Page,
    customer: Customer,
    invite: Invite,
    tab: &'static str,
}

#[derive(askama::Template)]
#[template(path = "invite_preview.html")]
struct PreviewPage {
    page: Page,
    customer: Customer,
    invite: Invite,
    subject: String,
    text: String,
    tab: &'static str,
}

/// The Add form as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    pub license_id: String,
    /// The invite's own fields, as the service takes them.
    #[serde(flatten)]
    pub invite: InviteInput,
}

impl InviteForm {
    /// Whether this computer is the one chosen to be replaced.
    pub fn replaces(&self, id: &crate::domain::InstallationId) -> bool {
        self.invite.replaces_installation_id.as_deref() == Some(id.to_string().as_str())
    }

    /// Days to keep deleted files, as typed (the input's value).
    pub fn store_deleted_days(&self) -> &str {
        self.invite.store_deleted_days.as_deref().unwrap_or("")
    }
}

#[derive(serde::Deserialize, Default)]
pub struct InvitesQuery {
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    added: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    ctx: &Ctx,
    id: CustomerId,
    chosen: Option<&str>,
    form: InviteForm,
    errors: FormErrors,
    added: Option<String>,
    flash: Option<&str>,
) -> WebResult<InvitesPage> {
    let customer = state.services.get_customer(&ctx.actor, id).await?;
    let licenses = state.services.list_licenses(&ctx.actor, id).await?;
    let chosen: Option<LicenseId> = chosen.and_then(|s| s.parse().ok());
    let license = chosen
        .and_then(|c| licenses.iter().find(|l| l.id == c).cloned())
        .or_else(|| licenses.first().cloned());
    let (invites, (over_standard, over_server), replaceable) = match &license {
        Some(l) => (
            state.services.list_invites(&ctx.actor, l.id).await?,
            state.services.invite_overbooking(&ctx.actor, l.id).await?,
            state
                .services
                .list_installations(&ctx.actor, l.id)
                .await?
                .into_iter()
                .filter(|n| n.replaced_by.is_none())
                .collect(),
        ),
        None => (Vec::new(), (0, 0), Vec::new()),
    };
    let mut page = Page::new(ctx);
    if let Some(f) = flash {
        page = page.with_flash(f);
    }
    Ok(InvitesPage {
        page,
        customer,
        licenses,
        license,
        invites,
        replaceable,
        form,
        errors,
        over_standard,
        over_server,
        added,
        tab: "invites",
    })
}

fn fresh_form() -> InviteForm {
    InviteForm {
        license_id: String::new(),
        invite: InviteInput {
            software_type: "standard".into(),
            store_deleted_days: Some("30".into()),
            ..Default::default()
        },
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<InvitesQuery>,
) -> WebResult {
    let flash = q.revoked.as_ref().map(|_| "flash.invite_revoked");
    let p = page(
        &state,
        &ctx,
        path_id::<CustomerId>(&id)?,
        q.license.as_deref(),
        fresh_form(),
        FormErrors::new(ctx.lang),
        q.added.clone(),
        flash,
    )
    .await?;
    render(&p)
}

pub async fn add(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<InviteForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let license: LicenseId = f
        .form
        .license_id
        .parse()
        .map_err(|_| ServiceError::NotFound)?;
    // The license must be this customer's.
    let lic = state.services.get_license(&ctx.actor, license).await?;
    if lic.customer_id != id {
        return Err(ServiceError::NotFound.into());
    }
    match state
        .services
        .create_invite(&ctx.actor, license, &f.form.invite)
        .await
    {
        Ok((invite, _code)) => {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("license", &license.to_string())
                .append_pair("added", &invite.username)
                .finish();
            Ok(Redirect::to(&format!("/licenses/{id}/invites?{q}")).into_response())
        }
        Err(e) => {
            let status = if matches!(e, ServiceError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let p = page(
                &state,
                &ctx,
                id,
                Some(&f.form.license_id),
                f.form.clone(),
                errors,
                None,
                None,
            )
            .await?;
            render_status(status, &p)
        }
    }
}

pub async fn revoke_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, invite)): Path<(String, String)>,
) -> WebResult {
    ctx.actor.require_write()?;
    let id = path_id::<CustomerId>(&id)?;
    let invite = state
        .services
        .get_invite(&ctx.actor, path_id(&invite)?)
        .await?;
    if invite.customer_id != id {
        return Err(ServiceError::NotFound.into());
    }
    let customer = state.services.get_customer(&ctx.actor, id).await?;
    render(&RevokePage {
        page: Page::new(&ctx),
        customer,
        invite,
        tab: "invites",
    })
}

pub async fn revoke(
    State(state): State<AppState>,
    Path((id, invite)): Path<(String, String)>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let invite: InviteId = path_id(&invite)?;
    let current = state.services.get_invite(&ctx.actor, invite).await?;
    if current.customer_id != id {
        return Err(ServiceError::NotFound.into());
    }
    state.services.revoke_invite(&ctx.actor, invite).await?;
    Ok(Redirect::to(&format!(
        "/licenses/{id}/invites?license={}&revoked=1",
        current.license_id
    ))
    .into_response())
}

pub async fn preview(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, invite)): Path<(String, String)>,
) -> WebResult {
    let id = path_id::<CustomerId>(&id)?;
    let invite_id: InviteId = path_id(&invite)?;
    let invite = state.services.get_invite(&ctx.actor, invite_id).await?;
    if invite.customer_id != id {
        return Err(ServiceError::NotFound.into());
    }
    let customer = state.services.get_customer(&ctx.actor, id).await?;
    let mail = state
        .services
        .preview_invite_mail(&ctx.actor, invite_id)
        .await?;
    let mut r = render(&PreviewPage {
        page: Page::new(&ctx),
        customer,
        invite,
        subject: mail.subject,
        text: mail.text,
        tab: "invites",
    })?;
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// The HTML part of the invitation, shown alone (in a sandboxed frame of
/// the preview page).
pub async fn preview_html(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, invite)): Path<(String, String)>,
) -> WebResult {
    let id = path_id::<CustomerId>(&id)?;
    let invite_id: InviteId = path_id(&invite)?;
    if state
        .services
        .get_invite(&ctx.actor, invite_id)
        .await?
        .customer_id
        != id
    {
        return Err(ServiceError::NotFound.into());
    }
    let mail = state
        .services
        .preview_invite_mail(&ctx.actor, invite_id)
        .await?;
    let mut r = Html(mail.html.unwrap_or_default()).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    // Framed by our own preview page only.
    r.headers_mut().insert(
        axum::http::header::X_FRAME_OPTIONS,
        axum::http::HeaderValue::from_static("SAMEORIGIN"),
    );
    r.headers_mut().insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
        ),
    );
    Ok(r)
}
