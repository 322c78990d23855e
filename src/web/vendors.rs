//! Vendors (admins only): list, create, edit, disable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::VendorId;
use crate::service::path_id;
use crate::service::vendors::{Vendor, VendorInput};

#[derive(askama::Template)]
#[template(path = "vendors.html")]
struct VendorsPage {
    page: Page,
    vendors: Vec<Vendor>,
    form: VendorForm,
    errors: FormErrors,
}

#[derive(askama::Template)]
#[template(path = "vendor_edit.html")]
struct VendorEditPage {
    page: Page,
    /// Two factors are required of this vendor's operators.
    two_factor: bool,
    vendor: Vendor,
    form: VendorForm,
    errors: FormErrors,
}

/// The vendor form as typed (kept on errors so nothing is lost).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct VendorForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub alert_email: String,
    #[serde(default)]
    pub alert_language: String,
    #[serde(default)]
    pub alert_digest: Option<String>,
    #[serde(default)]
    pub disabled: Option<String>,
    #[serde(default)]
    pub billing_email: String,
}

impl VendorForm {
    fn input(&self) -> VendorInput {
        VendorInput {
            name: self.name.clone(),
            alert_email: Some(self.alert_email.clone()),
            alert_language: Some(self.alert_language.clone()),
            alert_digest: Some(self.alert_digest.is_some()),
            disabled: Some(self.disabled.is_some()),
            billing_email: Some(self.billing_email.clone()),
        }
    }
    fn from_vendor(v: &Vendor) -> VendorForm {
        VendorForm {
            name: v.name.clone(),
            alert_email: v.alert_email.clone().unwrap_or_default(),
            alert_language: v.alert_language.clone(),
            alert_digest: v.alert_digest.then(|| "on".to_string()),
            disabled: v.disabled.then(|| "on".to_string()),
            billing_email: v.billing_email.clone().unwrap_or_default(),
        }
    }
}

pub async fn list(State(state): State<AppState>, ctx: Ctx) -> WebResult {
    ctx.actor.require_admin()?;
    let vendors = state.services.list_vendors(&ctx.actor).await?;
    render(&VendorsPage {
        page: Page::new(&ctx),
        vendors,
        form: VendorForm::default(),
        errors: FormErrors::new(ctx.lang),
    })
}

pub async fn create(State(state): State<AppState>, f: CsrfForm<VendorForm>) -> WebResult {
    let ctx = f.ctx;
    let mut input = f.form.input();
    input.disabled = None;
    match state.services.create_vendor(&ctx.actor, &input).await {
        Ok(_) => Ok(Redirect::to("/vendors").into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let vendors = state.services.list_vendors(&ctx.actor).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &VendorsPage {
                    page: Page::new(&ctx),
                    vendors,
                    form: f.form,
                    errors,
                },
            )
        }
    }
}

pub async fn edit(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> WebResult {
    ctx.actor.require_admin()?;
    let vendor = state
        .services
        .get_vendor(&ctx.actor, path_id::<VendorId>(&id)?)
        .await?;
    let two_factor = state
        .services
        .two_factor_policy(&ctx.actor, Some(vendor.id))
        .await?
        .1
        .unwrap_or(false);
    render(&VendorEditPage {
        two_factor,
        page: Page::new(&ctx),
        form: VendorForm::from_vendor(&vendor),
        vendor,
        errors: FormErrors::new(ctx.lang),
    })
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<VendorForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<VendorId>(&id)?;
    let two_factor = state
        .services
        .two_factor_policy(&ctx.actor, Some(id))
        .await?
        .1
        .unwrap_or(false);
    match state
        .services
        .update_vendor(&ctx.actor, id, &f.form.input())
        .await
    {
        Ok(v) => {
            let page = Page::new(&ctx).with_flash("flash.saved");
            render(&VendorEditPage {
                two_factor,
                page,
                form: VendorForm::from_vendor(&v),
                vendor: v,
                errors: FormErrors::new(ctx.lang),
            })
        }
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let vendor = state.services.get_vendor(&ctx.actor, id).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &VendorEditPage {
                    two_factor,
                    page: Page::new(&ctx),
                    vendor,
                    form: f.form,
                    errors,
                },
            )
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct TwoFactorForm {
    #[serde(default)]
    required: Option<String>,
}

/// Requires (or not) two factors of this vendor's operators.
pub async fn two_factor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<TwoFactorForm>,
) -> WebResult {
    let id = path_id::<VendorId>(&id)?;
    state
        .services
        .set_two_factor_required(&f.ctx.actor, Some(id), f.form.required.is_some())
        .await?;
    Ok(Redirect::to(&format!("/vendors/{id}")).into_response())
}
