//! Installations: the seed's step 4, "Sending invitations" — with each
//! invite's delivery state shown live instead of "the sent time won't be
//! updated right away".

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};

use super::{AppState, CsrfForm, Ctx, Page, WebResult, render};
use crate::domain::{CustomerId, InviteId, VendorId};
use crate::service::customers::Customer;
use crate::service::invites::Invite;
use crate::service::monitoring::{MonitoringEntry, MonitoringQuery};
use crate::service::path_id;
use crate::service::vendors::Vendor;

#[derive(askama::Template)]
#[template(path = "installations.html")]
struct InstallationsPage {
    page: Page,
    q: String,
    results: Vec<Customer>,
    customer: Option<Customer>,
    vendors: Vec<Vendor>,
    vendor: String,
    show_sent: bool,
    show_installed: bool,
    installed: Vec<MonitoringEntry>,
    invites: Vec<Invite>,
    in_flight: Vec<String>,
}

/// "Send again?": some of the chosen invites were sent before or are on
/// their way. A plain form (no JavaScript needed) that posts the same
/// invites again with `resend=1`, or only those never sent.
#[derive(askama::Template)]
#[template(path = "installations_confirm.html")]
struct ConfirmPage {
    page: Page,
    /// How many were sent before or are on their way.
    already: usize,
    /// Every chosen invite (sent again on yes).
    all: Vec<String>,
    /// The chosen invites never sent (the "only new ones" choice).
    fresh: Vec<String>,
    customer: String,
    vendor: String,
    sent: String,
    /// Back to the list, as it was.
    back: String,
}

#[derive(askama::Template)]
#[template(path = "installation_states.html")]
struct StatesPartial {
    page: Page,
    invites: Vec<Invite>,
    in_flight: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct InstallationsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    vendor: String,
    /// "Show invites that are sent" (on by default, as in the seed).
    #[serde(default)]
    sent: Option<String>,
    /// "Show installed clients" (off by default, as in the seed).
    #[serde(default)]
    installed: Option<String>,
    /// Set by the filter form, whose unchecked checkbox sends nothing.
    #[serde(default)]
    f: Option<String>,
    #[serde(default)]
    queued: Option<String>,
    #[serde(default)]
    resent: Option<String>,
    #[serde(default)]
    waiting: Option<String>,
    #[serde(default)]
    skipped: Option<String>,
}

impl InstallationsQuery {
    fn show_sent(&self) -> bool {
        match self.f {
            Some(_) => self.sent.as_deref() == Some("1"),
            None => self.sent.as_deref() != Some("0"),
        }
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<InstallationsQuery>,
) -> WebResult {
    let mut customer_id: Option<CustomerId> = q.customer.parse().ok();
    let vendor: Option<VendorId> = if ctx.actor.is_admin() {
        q.vendor.parse().ok()
    } else {
        None
    };
    let vendors = if ctx.actor.is_admin() {
        state.services.list_vendors(&ctx.actor).await?
    } else {
        Vec::new()
    };
    let mut results = if q.q.trim().is_empty() {
        Vec::new()
    } else {
        state
            .services
            .list_customers(&ctx.actor, vendor, Some(&q.q), None, 20)
            .await?
            .items
    };
    // "Show" with one matching customer chooses it (no extra click).
    if customer_id.is_none() && results.len() == 1 {
        customer_id = results.pop().map(|c| c.id);
    }
    let customer = match customer_id {
        Some(c) => Some(state.services.get_customer(&ctx.actor, c).await?),
        None => None,
    };
    let invites = state
        .services
        .invites_for_sending(&ctx.actor, vendor, customer_id, q.show_sent())
        .await?;
    let in_flight = invites
        .iter()
        .filter(|i| i.in_flight())
        .map(|i| i.id.to_string())
        .collect();
    let show_installed = q.installed.as_deref() == Some("1");
    let installed = if show_installed {
        let mq = MonitoringQuery {
            vendor_id: vendor.map(|v| v.to_string()),
            customer_id: customer_id.map(|c| c.to_string()),
            limit: Some(1000),
            ..Default::default()
        };
        state.services.monitoring(&ctx.actor, &mq).await?.items
    } else {
        Vec::new()
    };
    let mut page = Page::new(&ctx);
    let counts = [
        (&q.queued, "flash.invites_queued"),
        (&q.resent, "flash.invites_resent"),
        (&q.waiting, "flash.invites_waiting"),
        (&q.skipped, "flash.invites_skipped"),
    ];
    let parts: Vec<String> = counts
        .iter()
        .filter_map(|(n, key)| {
            n.as_deref()
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .map(|n| ctx.lang.count(key, n))
        })
        .collect();
    if !parts.is_empty() {
        page.flash = Some(parts.join(" "));
    }
    render(&InstallationsPage {
        page,
        q: q.q.clone(),
        results,
        customer,
        vendors,
        vendor: q.vendor.clone(),
        show_sent: q.show_sent(),
        show_installed,
        installed,
        invites,
        in_flight,
    })
}

/// The send form: the list's filters, "All", and the checked rows.
#[derive(serde::Deserialize, Default)]
pub struct SendForm {
    #[serde(default)]
    customer: String,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    sent: String,
    #[serde(default)]
    all: String,
    /// One `invite` field per checked row.
    #[serde(default)]
    invite: Vec<String>,
    /// "1" once the operator said yes to sending again.
    #[serde(default)]
    resend: String,
}

/// "Send invite to selected": the checked rows, or every row shown when
/// "All" is checked (so it works without JavaScript too).
pub async fn send(State(state): State<AppState>, f: CsrfForm<SendForm>) -> WebResult {
    let (ctx, f) = (f.ctx, f.form);
    let customer: Option<CustomerId> = f.customer.parse().ok();
    let vendor: Option<VendorId> = if ctx.actor.is_admin() {
        f.vendor.parse().ok()
    } else {
        None
    };
    let show_sent = f.sent != "0";
    let ids: Vec<InviteId> = if f.all == "1" {
        state
            .services
            .invites_for_sending(&ctx.actor, vendor, customer, show_sent)
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect()
    } else {
        f.invite
            .iter()
            .map(|v| path_id(v))
            .collect::<Result<_, _>>()?
    };
    let base = [
        ("customer", f.customer.clone()),
        ("vendor", f.vendor.clone()),
        (
            "sent",
            if show_sent {
                "1".to_string()
            } else {
                "0".to_string()
            },
        ),
    ];
    let back = |extra: Vec<(&str, String)>| -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in base.iter().map(|(k, v)| (*k, v.clone())).chain(extra) {
            q.append_pair(k, &v);
        }
        format!("/installations?{}", q.finish())
    };
    if ids.is_empty() {
        return Ok(Redirect::to(&back(vec![("queued", "0".into())])).into_response());
    }
    let report = match state
        .services
        .send_invites(&ctx.actor, &ids, f.resend == "1")
        .await
    {
        Ok(r) => r,
        Err(crate::service::ServiceError::AlreadySent { invites }) => {
            let fresh = ids
                .iter()
                .filter(|i| !invites.contains(i))
                .map(|i| i.to_string())
                .collect();
            let mut r = render(&ConfirmPage {
                page: Page::new(&ctx),
                already: invites.len(),
                all: ids.iter().map(|i| i.to_string()).collect(),
                fresh,
                customer: f.customer.clone(),
                vendor: f.vendor.clone(),
                sent: base[2].1.clone(),
                back: back(Vec::new()),
            })?;
            *r.status_mut() = axum::http::StatusCode::CONFLICT;
            return Ok(r);
        }
        Err(e) => return Err(e.into()),
    };
    let to = back(vec![
        ("queued", report.queued.len().to_string()),
        ("resent", report.resent.len().to_string()),
        ("waiting", report.already_queued.len().to_string()),
        ("skipped", report.skipped.len().to_string()),
    ]);
    Ok(Redirect::to(&to).into_response())
}

/// The poller's form: one `id` field per invite still in flight.
#[derive(serde::Deserialize, Default)]
pub struct StatesForm {
    #[serde(default)]
    id: Vec<String>,
}

/// The live part: the state cells of the invites still in flight, swapped
/// in place (htmx out-of-band), and a new poller while any remain.
pub async fn states(State(state): State<AppState>, f: CsrfForm<StatesForm>) -> WebResult {
    let ctx = f.ctx;
    let ids: Vec<InviteId> = f
        .form
        .id
        .iter()
        .filter_map(|v| v.parse().ok())
        .take(1000)
        .collect();
    let invites = state.services.get_invites(&ctx.actor, &ids).await?;
    let in_flight = invites
        .iter()
        .filter(|i| i.in_flight())
        .map(|i| i.id.to_string())
        .collect();
    render(&StatesPartial {
        page: Page::new(&ctx),
        invites,
        in_flight,
    })
}
