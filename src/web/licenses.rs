//! The Licenses page: choose or create a customer, then its Basics and
//! License tabs (the seed's steps 1 and 2).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, FormErrors, Page, WebResult, render, render_status};
use crate::domain::{CustomerId, LicenseId, Secret, VendorId};
use crate::service::ServiceError;
use crate::service::clients::Installation;
use crate::service::customers::{Customer, CustomerInput};
use crate::service::licenses::{License, LicenseInput};
use crate::service::path_id;
use crate::service::vendors::Vendor;

const PICKER_LIMIT: i64 = 50;

/// The "Choose existing" picker: a search box and the matching customers.
pub struct Picker {
    pub q: String,
    pub vendor: String,
    pub vendors: Vec<Vendor>,
    pub results: Vec<Customer>,
    pub next: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "licenses.html")]
struct PickerPage {
    page: Page,
    picker: Picker,
}

#[derive(askama::Template)]
#[template(path = "picker_results.html")]
struct PickerResults {
    page: Page,
    picker: Picker,
}

#[derive(askama::Template)]
#[template(path = "customer_basics.html")]
struct BasicsPage {
    page: Page,
    customer: Option<Customer>,
    form: CustomerForm,
    vendors: Vec<Vendor>,
    errors: FormErrors,
    revealed_key: Option<String>,
    tab: &'static str,
}

#[derive(askama::Template)]
#[template(path = "customer_delete.html")]
struct DeletePage {
    page: Page,
    customer: Customer,
    blocked: Option<String>,
    tab: &'static str,
}

#[derive(askama::Template)]
#[template(path = "customer_license.html")]
struct LicensePage {
    page: Page,
    customer: Customer,
    licenses: Vec<(License, LicenseForm, FormErrors, Vec<Installation>)>,
    trial_q: String,
    trials: Vec<Installation>,
    trial_error: Option<String>,
    new_license: Option<(LicenseForm, FormErrors)>,
    tab: &'static str,
    /// GB per Standard and per Server seat, for the live Total space.
    seat_gb: (i64, i64),
}

#[derive(serde::Deserialize, Default)]
pub struct PickerQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

fn vendor_filter(ctx: &Ctx, raw: &str) -> Option<VendorId> {
    if ctx.actor.is_admin() {
        raw.parse().ok()
    } else {
        None
    }
}

async fn picker(state: &AppState, ctx: &Ctx, q: &PickerQuery) -> WebResult<Picker> {
    let vendors = if ctx.actor.is_admin() {
        state.services.list_vendors(&ctx.actor).await?
    } else {
        Vec::new()
    };
    let found = state
        .services
        .list_customers(
            &ctx.actor,
            vendor_filter(ctx, &q.vendor),
            Some(&q.q),
            q.after.as_deref(),
            PICKER_LIMIT,
        )
        .await?;
    Ok(Picker {
        q: q.q.clone(),
        vendor: q.vendor.clone(),
        vendors,
        results: found.items,
        next: found.next_cursor,
    })
}

impl Picker {
    /// The query string for the next page of results.
    pub fn next_href(&self) -> Option<String> {
        self.next.as_ref().map(|n| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &self.q)
                .append_pair("vendor", &self.vendor)
                .append_pair("after", n)
                .finish();
            format!("/licenses?{q}")
        })
    }
}

pub async fn index(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PickerQuery>,
) -> WebResult {
    let picker = picker(&state, &ctx, &q).await?;
    render(&PickerPage {
        page: Page::new(&ctx),
        picker,
    })
}

/// The picker's results alone, for htmx's search-as-you-type.
pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PickerQuery>,
) -> WebResult {
    let picker = picker(&state, &ctx, &q).await?;
    render(&PickerResults {
        page: Page::new(&ctx),
        picker,
    })
}

/// The Basics form as typed: the service's own input, plus the form's
/// "remove key" box. Two form rules differ from the API: an empty key
/// field keeps the saved key (the page never shows it), and removing it
/// is the box.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CustomerForm {
    #[serde(flatten)]
    pub customer: CustomerInput,
    #[serde(default)]
    pub remove_key: Option<String>,
}

impl CustomerForm {
    fn input(&self) -> CustomerInput {
        let typed = self
            .customer
            .encryption_key
            .as_ref()
            .filter(|k| !k.expose().trim().is_empty());
        let key = if self.remove_key.is_some() {
            Some(Secret::new(String::new()))
        } else {
            typed.cloned()
        };
        CustomerInput {
            encryption_key: key,
            ..self.customer.clone()
        }
    }

    fn from_customer(c: &Customer) -> CustomerForm {
        CustomerForm {
            customer: CustomerInput {
                vendor_id: Some(c.vendor_id.to_string()),
                name: c.name.clone(),
                vat_id: c.vat_id.clone(),
                street_address: c.street_address.clone(),
                postal_code: c.postal_code.clone(),
                postal_area: c.postal_area.clone(),
                country: c.country.clone(),
                language: c.language.clone(),
                contact_email: c.contact_email.clone(),
                encryption_key: None,
                username_prefix: c.username_prefix.clone(),
            },
            remove_key: None,
        }
    }

    /// The vendor chosen, as typed.
    pub fn vendor_id(&self) -> &str {
        self.customer.vendor_id.as_deref().unwrap_or("")
    }

    /// The username prefix, as typed.
    pub fn username_prefix(&self) -> &str {
        self.customer.username_prefix.as_deref().unwrap_or("")
    }

    /// The plain text inputs of the Basics form, in the seed's order:
    /// (name, label key, value, input type, autocomplete).
    pub fn text_fields(
        &self,
    ) -> Vec<(&'static str, &'static str, &str, &'static str, &'static str)> {
        vec![
            (
                "name",
                "field.name",
                self.customer.name.as_str(),
                "text",
                "organization",
            ),
            (
                "vat_id",
                "field.vat_id",
                self.customer.vat_id.as_str(),
                "text",
                "off",
            ),
            (
                "street_address",
                "field.street_address",
                self.customer.street_address.as_str(),
                "text",
                "street-address",
            ),
            (
                "postal_code",
                "field.postal_code",
                self.customer.postal_code.as_str(),
                "text",
                "postal-code",
            ),
            (
                "postal_area",
                "field.postal_area",
                self.customer.postal_area.as_str(),
                "text",
                "address-level2",
            ),
            (
                "country",
                "field.country",
                self.customer.country.as_str(),
                "text",
                "country",
            ),
            (
                "contact_email",
                "field.contact_email",
                self.customer.contact_email.as_deref().unwrap_or(""),
                "email",
                "email",
            ),
        ]
    }

    /// Never echo a typed key back into the page.
    fn scrubbed(mut self) -> CustomerForm {
        self.customer.encryption_key = None;
        self
    }
}

async fn vendors_for(state: &AppState, ctx: &Ctx) -> WebResult<Vec<Vendor>> {
    Ok(if ctx.actor.is_admin() {
        state.services.list_vendors(&ctx.actor).await?
    } else {
        Vec::new()
    })
}

pub async fn new_form(State(state): State<AppState>, ctx: Ctx) -> WebResult {
    let vendors = vendors_for(&state, &ctx).await?;
    let form = CustomerForm {
        customer: CustomerInput {
            country: "FI".into(),
            language: "fi".into(),
            ..Default::default()
        },
        remove_key: None,
    };
    render(&BasicsPage {
        page: Page::new(&ctx),
        customer: None,
        form,
        vendors,
        errors: FormErrors::new(ctx.lang),
        revealed_key: None,
        tab: "basics",
    })
}

pub async fn create(State(state): State<AppState>, f: CsrfForm<CustomerForm>) -> WebResult {
    let ctx = f.ctx;
    match state
        .services
        .create_customer(&ctx.actor, &f.form.input())
        .await
    {
        Ok(c) => Ok(Redirect::to(&format!("/licenses/{}/license?created=1", c.id)).into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let vendors = vendors_for(&state, &ctx).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &BasicsPage {
                    page: Page::new(&ctx),
                    customer: None,
                    form: f.form.scrubbed(),
                    vendors,
                    errors,
                    revealed_key: None,
                    tab: "basics",
                },
            )
        }
    }
}

pub async fn basics(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<PickerQuery>,
) -> WebResult {
    let customer = state
        .services
        .get_customer(&ctx.actor, path_id::<CustomerId>(&id)?)
        .await?;
    let vendors = vendors_for(&state, &ctx).await?;
    let mut page = Page::new(&ctx);
    if q.saved.is_some() {
        page = page.with_flash("flash.saved");
    }
    render(&BasicsPage {
        page,
        form: CustomerForm::from_customer(&customer),
        customer: Some(customer),
        vendors,
        errors: FormErrors::new(ctx.lang),
        revealed_key: None,
        tab: "basics",
    })
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<CustomerForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    match state
        .services
        .update_customer(&ctx.actor, id, &f.form.input())
        .await
    {
        Ok(c) => Ok(Redirect::to(&format!("/licenses/{}?saved=1", c.id)).into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let customer = state.services.get_customer(&ctx.actor, id).await?;
            let vendors = vendors_for(&state, &ctx).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &BasicsPage {
                    page: Page::new(&ctx),
                    customer: Some(customer),
                    form: f.form.scrubbed(),
                    vendors,
                    errors,
                    revealed_key: None,
                    tab: "basics",
                },
            )
        }
    }
}

pub async fn reveal_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let key = state.services.reveal_encryption_key(&ctx.actor, id).await?;
    let customer = state.services.get_customer(&ctx.actor, id).await?;
    let vendors = vendors_for(&state, &ctx).await?;
    let mut r = render(&BasicsPage {
        page: Page::new(&ctx),
        form: CustomerForm::from_customer(&customer),
        customer: Some(customer),
        vendors,
        errors: FormErrors::new(ctx.lang),
        revealed_key: Some(key.map(|k| k.expose().clone()).unwrap_or_default()),
        tab: "basics",
    })?;
    // A page with a secret on it is not kept by the browser or proxies.
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult {
    ctx.actor.require_write()?;
    let customer = state
        .services
        .get_customer(&ctx.actor, path_id::<CustomerId>(&id)?)
        .await?;
    render(&DeletePage {
        page: Page::new(&ctx),
        customer,
        blocked: None,
        tab: "basics",
    })
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    match state.services.delete_customer(&ctx.actor, id).await {
        Ok(()) => Ok(Redirect::to("/licenses?deleted=1").into_response()),
        Err(ServiceError::Conflict { message, .. }) => {
            let customer = state.services.get_customer(&ctx.actor, id).await?;
            render_status(
                StatusCode::CONFLICT,
                &DeletePage {
                    page: Page::new(&ctx),
                    customer,
                    blocked: Some(message),
                    tab: "basics",
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The License form as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct LicenseForm {
    #[serde(default, rename = "type")]
    pub license_type: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub standard_seats: String,
    #[serde(default)]
    pub server_seats: String,
    #[serde(default)]
    pub extra_space_gb: String,
    #[serde(default)]
    pub client_limit_gb: String,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub valid_to: String,
    #[serde(default)]
    pub comments: String,
}

impl LicenseForm {
    fn input(&self) -> LicenseInput {
        LicenseInput {
            r#type: Some(self.license_type.clone()),
            state: Some(self.state.clone()),
            standard_seats: Some(self.standard_seats.clone()),
            server_seats: Some(self.server_seats.clone()),
            extra_space_gb: Some(self.extra_space_gb.clone()),
            client_limit_gb: Some(self.client_limit_gb.clone()),
            created: Some(self.created.clone()),
            valid_to: Some(self.valid_to.clone()),
            comments: Some(self.comments.clone()),
        }
    }

    fn from_license(l: &License) -> LicenseForm {
        LicenseForm {
            license_type: l.r#type.as_str().into(),
            state: l.saved_state.as_str().into(),
            standard_seats: l.standard_seats.to_string(),
            server_seats: l.server_seats.to_string(),
            extra_space_gb: l.extra_space_gb.to_string(),
            client_limit_gb: l.client_limit_gb.to_string(),
            created: l.created.clone(),
            valid_to: l.valid_to.clone(),
            comments: l.comments.clone(),
        }
    }

    fn fresh() -> LicenseForm {
        let today = crate::domain::license::today();
        LicenseForm {
            license_type: "purchased".into(),
            state: "active".into(),
            standard_seats: "0".into(),
            server_seats: "0".into(),
            extra_space_gb: "0".into(),
            client_limit_gb: "0".into(),
            created: crate::domain::license::format_date(today),
            valid_to: crate::domain::license::format_date(
                crate::domain::license::default_valid_to(today),
            ),
            comments: String::new(),
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct LicenseQuery {
    #[serde(default)]
    trial_q: Option<String>,
    #[serde(default)]
    connected: Option<String>,
    #[serde(default)]
    deactivated: Option<String>,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    created: Option<String>,
}

async fn license_page(
    state: &AppState,
    ctx: &Ctx,
    id: CustomerId,
    failed: Option<(Option<LicenseId>, LicenseForm, FormErrors)>,
    flash: Option<&str>,
) -> WebResult<LicensePage> {
    let customer = state.services.get_customer(&ctx.actor, id).await?;
    let list = state.services.list_licenses(&ctx.actor, id).await?;
    let mut failed = failed;
    let mut licenses = Vec::with_capacity(list.len());
    for l in list {
        let installations = state
            .services
            .list_installations(&ctx.actor, l.id)
            .await?
            .into_iter()
            .filter(|i| i.deactivated_at.is_none())
            .collect();
        let entry = match failed.take() {
            Some((Some(fid), form, errors)) if fid == l.id => (l, form, errors, installations),
            other => {
                failed = other;
                let form = LicenseForm::from_license(&l);
                (l, form, FormErrors::new(ctx.lang), installations)
            }
        };
        licenses.push(entry);
    }
    let new_license = match failed {
        Some((None, form, errors)) => Some((form, errors)),
        _ if licenses.is_empty() => Some((LicenseForm::fresh(), FormErrors::new(ctx.lang))),
        _ => None,
    };
    let mut page = Page::new(ctx);
    if let Some(key) = flash {
        page = page.with_flash(key);
    }
    Ok(LicensePage {
        page,
        customer,
        licenses,
        new_license,
        trial_q: String::new(),
        trials: Vec::new(),
        trial_error: None,
        tab: "license",
        seat_gb: (
            state.services.config.standard_seat_gb,
            state.services.config.server_seat_gb,
        ),
    })
}

pub async fn license(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<LicenseQuery>,
) -> WebResult {
    let flash = if q.connected.is_some() {
        Some("flash.trial_connected")
    } else if q.deactivated.is_some() {
        Some("flash.deactivated")
    } else if q.saved.is_some() {
        Some("flash.saved")
    } else if q.created.is_some() {
        Some("flash.customer_created")
    } else {
        None
    };
    let mut page = license_page(&state, &ctx, path_id::<CustomerId>(&id)?, None, flash).await?;
    if let Some(text) = q.trial_q.filter(|t| !t.trim().is_empty()) {
        page.trials = state.services.find_trial_clients(&ctx.actor, &text).await?;
        page.trial_q = text;
    }
    render(&page)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    installation_id: String,
}

/// "Connect trial client": moves the chosen trial onto this license.
pub async fn connect_trial(
    State(state): State<AppState>,
    Path((id, lid)): Path<(String, String)>,
    f: CsrfForm<ConnectForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let lid: LicenseId = path_id(&lid)?;
    if state
        .services
        .get_license(&ctx.actor, lid)
        .await?
        .customer_id
        != id
    {
        return Err(ServiceError::NotFound.into());
    }
    let inst = f
        .form
        .installation_id
        .parse()
        .map_err(|_| ServiceError::NotFound)?;
    match state.services.connect_trial(&ctx.actor, inst, lid).await {
        Ok(_) => Ok(Redirect::to(&format!("/licenses/{id}/license?connected=1")).into_response()),
        Err(ServiceError::Conflict { code, message }) => {
            let mut page = license_page(&state, &ctx, id, None, None).await?;
            let key = format!("error.{code}");
            let t = ctx.lang.t(&key);
            page.trial_error = Some(if t == key { message } else { t.to_string() });
            render_status(StatusCode::CONFLICT, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// An operator deactivates an installation (its seat is freed).
pub async fn deactivate_installation(
    State(state): State<AppState>,
    Path((id, iid)): Path<(String, String)>,
    f: CsrfForm<serde::de::IgnoredAny>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let iid = path_id(&iid)?;
    if state
        .services
        .get_installation(&ctx.actor, iid)
        .await?
        .customer_id
        != id
    {
        return Err(ServiceError::NotFound.into());
    }
    state
        .services
        .deactivate_installation(&ctx.actor, iid)
        .await?;
    Ok(Redirect::to(&format!("/licenses/{id}/license?deactivated=1")).into_response())
}

pub async fn license_create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: CsrfForm<LicenseForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    match state
        .services
        .create_license(&ctx.actor, id, &f.form.input())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/licenses/{id}/license?saved=1")).into_response()),
        Err(e) => {
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let page = license_page(&state, &ctx, id, Some((None, f.form, errors)), None).await?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn license_save(
    State(state): State<AppState>,
    Path((id, lid)): Path<(String, String)>,
    f: CsrfForm<LicenseForm>,
) -> WebResult {
    let ctx = f.ctx;
    let id = path_id::<CustomerId>(&id)?;
    let lid: LicenseId = path_id(&lid)?;
    // The license must belong to the customer in the path.
    let current = state.services.get_license(&ctx.actor, lid).await?;
    if current.customer_id != id {
        return Err(ServiceError::NotFound.into());
    }
    match state
        .services
        .update_license(&ctx.actor, lid, &f.form.input())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/licenses/{id}/license?saved=1")).into_response()),
        Err(e) => {
            let status = if matches!(e, ServiceError::Refused { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let errors = FormErrors::from_service(ctx.lang, e)?;
            let page =
                license_page(&state, &ctx, id, Some((Some(lid), f.form, errors)), None).await?;
            render_status(status, &page)
        }
    }
}
