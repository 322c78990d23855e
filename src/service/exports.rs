//! Exports of licenses, invites and installations: one page at a time in
//! id order, so a download of any size holds one page in memory (the CSV
//! faces stream the pages as they come). Scope: admins every vendor's
//! rows or one vendor's, everybody else only their own vendor's. Invites
//! are exported without their activation codes, whoever asks.

use super::clients::Installation;
use super::invites::{Invite, invite_view_with};
use super::licenses::License;
use super::{Actor, Page, Result, Scope, ServiceError, Services};
use crate::domain::VendorId;
use crate::store;

/// Rows per page of an export.
pub const EXPORT_PAGE: i64 = 500;

/// The vendor an export is limited to: an operator's own whatever it
/// asks for, an admin's choice (or none: all).
fn export_vendor(actor: &Actor, vendor: Option<VendorId>) -> Option<VendorId> {
    match actor.scope() {
        Scope::All => vendor,
        Scope::Vendor(own) => Some(own),
    }
}

/// The cursor of an export page: the id of the previous page's last row.
fn after<T: std::str::FromStr>(cursor: Option<&str>) -> Result<Option<T>> {
    match cursor.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(c) => c
            .parse::<T>()
            .map(Some)
            .map_err(|_| ServiceError::invalid("cursor", "error.cursor")),
    }
}

/// A page from `limit + 1` rows: the next cursor only if there are more.
fn page<T>(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(id) } else { None };
    Page { items, next_cursor }
}

impl Services {
    /// One page of the licenses the actor may see, in creation order.
    pub async fn export_licenses(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
        cursor: Option<&str>,
    ) -> Result<Page<License>> {
        let vendor = export_vendor(actor, vendor);
        let after = after(cursor)?;
        let mut c = self.store.read().await?;
        let rows = store::licenses::export_page(&mut c, vendor, after, EXPORT_PAGE + 1).await?;
        drop(c);
        let space = self.seat_space();
        let items = rows
            .into_iter()
            .map(|r| License::from_row(r, space))
            .collect();
        Ok(page(items, EXPORT_PAGE, |l: &License| l.id.to_string()))
    }

    /// One page of the invites the actor may see, in creation order,
    /// never with their activation codes.
    pub async fn export_invites(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
        cursor: Option<&str>,
    ) -> Result<Page<Invite>> {
        let vendor = export_vendor(actor, vendor);
        let after = after(cursor)?;
        let mut c = self.store.read().await?;
        let rows = store::invites::export_page(&mut c, vendor, after, EXPORT_PAGE + 1).await?;
        drop(c);
        let items = rows
            .into_iter()
            .map(|r| invite_view_with(r, None))
            .collect();
        Ok(page(items, EXPORT_PAGE, |i: &Invite| i.id.to_string()))
    }

    /// One page of the installations (live and retired) the actor may
    /// see, in activation order.
    pub async fn export_installations(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
        cursor: Option<&str>,
    ) -> Result<Page<Installation>> {
        let vendor = export_vendor(actor, vendor);
        let after = after(cursor)?;
        let mut c = self.store.read().await?;
        let rows =
            store::installations::export_page(&mut c, vendor, after, EXPORT_PAGE + 1).await?;
        drop(c);
        let items = rows
            .into_iter()
            .map(|n| self.installation_view(n))
            .collect::<Result<Vec<_>>>()?;
        Ok(page(items, EXPORT_PAGE, |n: &Installation| {
            n.id.to_string()
        }))
    }
}
