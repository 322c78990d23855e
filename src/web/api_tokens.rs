//! Settings → API tokens (#16): one's vendor's live tokens, a form to
//! make one (shown once), and Revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::http::ClientOrigin;
use crate::service::api_tokens::{ApiTokenView, NewToken};

#[derive(askama::Template)]
#[template(path = "api_tokens.html")]
struct TokensPage {
    page: Page,
    tokens: Vec<ApiTokenView>,
    form: TokenForm,
    errors: FormErrors,
    /// The token just made: shown this once.
    created: Option<String>,
    can_write: bool,
    is_admin: bool,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub write: Option<String>,
    #[serde(default)]
    pub admin: Option<String>,
    #[serde(default)]
    pub days: String,
}

impl Default for TokenForm {
    fn default() -> Self {
        TokenForm {
            name: String::new(),
            write: None,
            admin: None,
            days: crate::domain::api_token::DEFAULT_DAYS.to_string(),
        }
    }
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    form: TokenForm,
    errors: FormErrors,
    created: Option<String>,
) -> WebResult<TokensPage> {
    Ok(TokensPage {
        page: Page::new(ctx),
        tokens: state.services.list_scoped_tokens(&ctx.actor).await?,
        form,
        errors,
        created,
        can_write: ctx.actor.role.can_write(),
        is_admin: ctx.actor.is_admin(),
    })
}

pub async fn show(State(state): State<AppState>, ctx: Ctx) -> WebResult {
    let p = page(
        &state,
        &ctx,
        TokenForm::default(),
        FormErrors::new(ctx.lang),
        None,
    )
    .await?;
    render(&p)
}

pub async fn create(
    State(state): State<AppState>,
    ClientOrigin(origin): ClientOrigin,
    f: CsrfForm<TokenForm>,
) -> WebResult {
    let ctx = f.ctx;
    let form = f.form;
    let mut scopes = vec!["read".to_string()];
    if form.write.is_some() {
        scopes.push("write".into());
    }
    if form.admin.is_some() {
        scopes.push("admin".into());
    }
    let days = form.days.trim();
    let req = NewToken {
        name: form.name.clone(),
        scopes,
        // Not a number: a day count the service refuses with its message.
        expires_in_days: Some(if days.is_empty() {
            crate::domain::api_token::DEFAULT_DAYS
        } else {
            days.parse().unwrap_or(-1)
        }),
    };
    match state
        .services
        .create_scoped_token(&ctx.actor, &req, &origin)
        .await
    {
        Ok((_, token)) => {
            let mut p = page(
                &state,
                &ctx,
                TokenForm::default(),
                FormErrors::new(ctx.lang),
                Some(token.expose().clone()),
            )
            .await?;
            p.page = p.page.with_flash("tokens.flash_made");
            render_status(StatusCode::CREATED, &p)
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&state, &ctx, form, errors, None).await?,
            )
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RevokeForm {}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<RevokeForm>,
) -> WebResult {
    state
        .services
        .revoke_scoped_token(&f.ctx.actor, &id)
        .await?;
    Ok(Redirect::to("/settings/api-tokens").into_response())
}
