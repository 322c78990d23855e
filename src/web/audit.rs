//! The audit log page.

use axum::extract::{Query, State};

use super::{AppState, Ctx, Page, WebResult, render};
use crate::service::audit::AuditEntry;

#[derive(askama::Template)]
#[template(path = "audit.html")]
struct AuditPage {
    page: Page,
    entries: Vec<AuditEntry>,
    action: String,
    next: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

const PAGE: i64 = 100;

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<AuditQuery>,
) -> WebResult {
    let action = q.action.unwrap_or_default().trim().to_string();
    let filter = (!action.is_empty()).then_some(action.as_str());
    let entries = state
        .services
        .list_audit(&ctx.actor, filter, q.before.as_deref(), PAGE)
        .await?;
    let next = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    render(&AuditPage {
        page: Page::new(&ctx),
        entries,
        action,
        next,
    })
}

impl AuditEntry {
    /// A compact "field: before → after" text for the table.
    pub fn change(&self) -> String {
        fn flat(v: &Option<serde_json::Value>) -> Vec<(String, String)> {
            match v {
                Some(serde_json::Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            },
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            }
        }
        let before = flat(&self.before);
        let after = flat(&self.after);
        let mut parts = Vec::new();
        for (k, a) in &after {
            match before.iter().find(|(bk, _)| bk == k) {
                Some((_, b)) if b == a => {}
                Some((_, b)) => parts.push(format!("{k}: {b} → {a}")),
                None => parts.push(format!("{k}: {a}")),
            }
        }
        for (k, b) in &before {
            if !after.iter().any(|(ak, _)| ak == k) {
                parts.push(format!("{k}: {b} → —"));
            }
        }
        parts.join("; ")
    }
}
