//! The audit log page.

use axum::extract::{Query, State};

use super::{AppState, Ctx, Lang, Page, WebResult, render};
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
    /// What happened, in words ("changed the license"); the action key
    /// itself only for an action without words yet.
    pub fn what(&self, lang: &Lang) -> String {
        lang.get(&format!("audit.a.{}", self.action))
            .map(str::to_string)
            .unwrap_or_else(|| self.action.clone())
    }

    /// "Standard seats 5 → 7; Valid to 2026-12-31", in the page's language:
    /// field names in words, `true`/`false` as yes/no.
    pub fn change_in(&self, lang: &Lang) -> String {
        let label = |k: &str| -> String {
            lang.get(&format!("audit.f.{k}"))
                .or_else(|| lang.get(&format!("field.{k}")))
                .map(str::to_string)
                .unwrap_or_else(|| k.replace('_', " "))
        };
        let value = |v: &str| -> String {
            match v {
                "true" => lang.t("audit.yes").to_string(),
                "false" => lang.t("audit.no").to_string(),
                "null" | "" => "—".to_string(),
                // A stored time (e.g. an endpoint's created_at) in the
                // reader's words, never as raw RFC 3339; other text as is.
                v => lang.time(v),
            }
        };
        self.pairs()
            .into_iter()
            .map(|(k, b, a)| match b {
                Some(b) => format!("{} {} → {}", label(&k), value(&b), value(&a)),
                None => format!("{} {}", label(&k), value(&a)),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What kind of thing it happened to, in words.
    pub fn target(&self, lang: &Lang) -> String {
        lang.get(&format!("audit.k.{}", self.target_kind))
            .map(str::to_string)
            .unwrap_or_else(|| self.target_kind.replace('_', " "))
    }

    /// The changed fields: (name, before if there was one, after).
    fn pairs(&self) -> Vec<(String, Option<String>, String)> {
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
                Some((_, b)) => parts.push((k.clone(), Some(b.clone()), a.clone())),
                None => parts.push((k.clone(), None, a.clone())),
            }
        }
        for (k, b) in &before {
            if !after.iter().any(|(ak, _)| ak == k) {
                parts.push((k.clone(), Some(b.clone()), "—".to_string()));
            }
        }
        parts
    }
}
