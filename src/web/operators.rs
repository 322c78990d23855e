//! Operators (admins only): list, create, edit, disable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::{OperatorId, Secret};
use crate::service::operators::{Operator, OperatorInput};
use crate::service::path_id;
use crate::service::vendors::Vendor;

#[derive(askama::Template)]
#[template(path = "operators.html")]
struct OperatorsPage {
    page: Page,
    operators: Vec<Operator>,
    vendors: Vec<Vendor>,
    form: OperatorForm,
    errors: FormErrors,
}

#[derive(askama::Template)]
#[template(path = "operator_edit.html")]
struct OperatorEditPage {
    page: Page,
    operator: Operator,
    vendors: Vec<Vendor>,
    form: OperatorForm,
    errors: FormErrors,
}

/// The operator form as typed. The password is never echoed back.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct OperatorForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing)]
    pub password: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub vendor_id: String,
    #[serde(default)]
    pub disabled: Option<String>,
}

impl OperatorForm {
    fn input(&self) -> OperatorInput {
        OperatorInput {
            email: self.email.clone(),
            name: self.name.clone(),
            password: Some(Secret::new(self.password.clone())),
            role: self.role.clone(),
            vendor_id: Some(self.vendor_id.clone()),
            disabled: Some(self.disabled.is_some()),
        }
    }
    fn from_operator(o: &Operator) -> OperatorForm {
        OperatorForm {
            email: o.email.clone(),
            name: o.name.clone(),
            password: String::new(),
            role: o.role.as_str().to_string(),
            vendor_id: o.vendor_id.map(|v| v.to_string()).unwrap_or_default(),
            disabled: o.disabled.then(|| "on".to_string()),
        }
    }
    /// Without the password, for re-showing after an error.
    fn scrubbed(mut self) -> OperatorForm {
        self.password.clear();
        self
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> WebResult {
    let operators = state.services.list_operators(&ctx.actor).await?;
    let vendors = state.services.list_vendors(&ctx.actor).await?;
    let form = OperatorForm {
        role: "operator".into(),
        ..Default::default()
    };
    render(&OperatorsPage {
        page: Page::new(&ctx),
        operators,
        vendors,
        form,
        errors: FormErrors::new(ctx.lang),
    })
}

pub async fn create(State(state): State<AppState>, f: CsrfForm<OperatorForm>) -> WebResult {
    let ctx = f.ctx;
    let mut input = f.form.input();
    input.disabled = None;
    match state.services.create_operator(&ctx.actor, &input).await {
        Ok(_) => Ok(Redirect::to("/operators").into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let operators = state.services.list_operators(&ctx.actor).await?;
            let vendors = state.services.list_vendors(&ctx.actor).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OperatorsPage {
                    page: Page::new(&ctx),
                    operators,
                    vendors,
                    form: f.form.scrubbed(),
                    errors,
                },
            )
        }
    }
}

pub async fn edit(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> WebResult {
    let operator = state
        .services
        .get_operator(&ctx.actor, path_id::<OperatorId>(&id)?)
        .await?;
    let vendors = state.services.list_vendors(&ctx.actor).await?;
    render(&OperatorEditPage {
        page: Page::new(&ctx),
        form: OperatorForm::from_operator(&operator),
        operator,
        vendors,
        errors: FormErrors::new(ctx.lang),
    })
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<OperatorForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<OperatorId>(&id)?;
    let result = state
        .services
        .update_operator(&ctx.actor, id, &f.form.input())
        .await;
    let vendors = state.services.list_vendors(&ctx.actor).await?;
    match result {
        Ok(o) => {
            let page = Page::new(&ctx).with_flash("flash.saved");
            render(&OperatorEditPage {
                page,
                form: OperatorForm::from_operator(&o),
                operator: o,
                vendors,
                errors: FormErrors::new(ctx.lang),
            })
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let operator = state.services.get_operator(&ctx.actor, id).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OperatorEditPage {
                    page: Page::new(&ctx),
                    operator,
                    vendors,
                    form: f.form.scrubbed(),
                    errors,
                },
            )
        }
    }
}

/// Ends every session and API token of an operator (admins).
pub async fn end_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let id = path_id::<OperatorId>(&id)?;
    state.services.end_all_sessions(&f.ctx.actor, id).await?;
    Ok(Redirect::to(&format!("/operators/{id}?ended=1")).into_response())
}
