//! Licenses: the seed's step 2, "Changing the amount of licenses".

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Result, ServiceError, Services};
use crate::domain::license::{self as rules, LicenseState, LicenseType, SeatSpace};
use crate::domain::{CustomerId, FieldError, LicenseId, VendorId, now_millis};
use crate::store::{self, licenses::LicenseRow};

/// A license as the faces show it; `state` is the effective state (a
/// license past Valid to is Expired).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct License {
    pub id: LicenseId,
    /// The license Number (its UUID), as the seed calls it.
    pub number: String,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub vendor_id: VendorId,
    pub r#type: LicenseType,
    pub state: LicenseState,
    /// The state as saved (differs from `state` once Valid to has passed).
    pub saved_state: LicenseState,
    pub standard_seats: i64,
    pub standard_used: i64,
    pub server_seats: i64,
    pub server_used: i64,
    pub extra_space_gb: i64,
    pub total_space_gb: i64,
    pub client_limit_gb: i64,
    pub created: String,
    pub valid_to: String,
    pub comments: String,
    pub created_at: String,
    pub updated_at: String,
}

impl License {
    pub(super) fn from_row(r: LicenseRow, space: SeatSpace) -> License {
        let saved_state = r.state;
        let valid_to = r.valid_to.0;
        License {
            id: r.id,
            number: r.id.to_db(),
            customer_id: r.customer_id,
            customer_name: r.customer_name.clone(),
            vendor_id: r.vendor_id,
            r#type: r.r#type,
            state: LicenseState::effective(saved_state, valid_to, rules::today()),
            saved_state,
            standard_seats: r.standard_seats,
            standard_used: r.standard_used,
            server_seats: r.server_seats,
            server_used: r.server_used,
            extra_space_gb: r.extra_space_gb,
            total_space_gb: rules::total_space_gb(
                space,
                r.standard_seats,
                r.server_seats,
                r.extra_space_gb,
            ),
            client_limit_gb: r.client_limit_gb,
            created: r.created.to_string(),
            valid_to: r.valid_to.to_string(),
            comments: r.comments.clone(),
            created_at: crate::domain::rfc3339(r.created_at),
            updated_at: crate::domain::rfc3339(r.updated_at),
        }
    }

    /// Whether Valid to has passed while the saved state still says
    /// otherwise (the page explains why it shows Expired).
    pub fn expired_by_date(&self) -> bool {
        self.state == LicenseState::Expired && self.saved_state != LicenseState::Expired
    }
}

pub use crate::domain::license::{LicenseBase, LicenseInput, NewLicense};

pub(super) fn fields(v: &NewLicense) -> store::licenses::LicenseFields<'_> {
    store::licenses::LicenseFields {
        r#type: v.r#type,
        state: v.state,
        standard_seats: v.standard_seats,
        server_seats: v.server_seats,
        extra_space_gb: v.extra_space_gb,
        client_limit_gb: v.client_limit_gb,
        created: rules::format_date(v.created),
        valid_to: rules::format_date(v.valid_to),
        comments: &v.comments,
    }
}

fn snapshot(l: &License) -> serde_json::Value {
    json!({
        "type": l.r#type, "state": l.saved_state, "standard_seats": l.standard_seats, "server_seats": l.server_seats,
        "extra_space_gb": l.extra_space_gb, "client_limit_gb": l.client_limit_gb, "created": l.created,
        "valid_to": l.valid_to, "comments": l.comments,
    })
}

impl Services {
    pub fn seat_space(&self) -> SeatSpace {
        SeatSpace {
            standard_gb: self.config.standard_seat_gb,
            server_gb: self.config.server_seat_gb,
        }
    }

    /// A customer's licenses, if the actor may see the customer.
    pub async fn list_licenses(&self, actor: &Actor, customer: CustomerId) -> Result<Vec<License>> {
        let mut c = self.store.read().await?;
        let owner = store::customers::get(&mut c, customer)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !actor.can_see(owner.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        let space = self.seat_space();
        Ok(store::licenses::list_for_customer(&mut c, customer)
            .await?
            .into_iter()
            .map(|r| License::from_row(r, space))
            .collect())
    }

    pub async fn get_license(&self, actor: &Actor, id: LicenseId) -> Result<License> {
        let mut c = self.store.read().await?;
        let row = store::licenses::get(&mut c, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let l = License::from_row(row, self.seat_space());
        if !actor.can_see(l.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        Ok(l)
    }

    pub async fn create_license(
        &self,
        actor: &Actor,
        customer: CustomerId,
        input: &LicenseInput,
    ) -> Result<License> {
        actor.require_write()?;
        let base = LicenseBase::new_license(rules::today());
        let v = NewLicense::parse(input, &base).map_err(ServiceError::Invalid)?;
        let now = now_millis();
        let id = LicenseId::new();
        let mut tx = self.store.begin().await?;
        let owner = store::customers::get(&mut tx, customer)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !actor.can_see(owner.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        store::licenses::insert(&mut tx, id, customer, &fields(&v), now).await?;
        let created = License::from_row(
            store::licenses::get(&mut tx, id)
                .await?
                .ok_or(ServiceError::NotFound)?,
            self.seat_space(),
        );
        super::audit(
            &mut tx,
            actor,
            now,
            Some(created.vendor_id),
            "license.create",
            "license",
            Some(id.to_db()),
            None,
            Some(snapshot(&created)),
        )
        .await?;
        let mut data = snapshot(&created);
        data["license_id"] = serde_json::json!(id.to_db());
        data["customer_id"] = serde_json::json!(created.customer_id.to_db());
        let path = format!("/licenses/{}", created.customer_id.to_db());
        self.emit(
            &mut tx,
            Some(created.vendor_id),
            "license.created",
            data,
            Some(&path),
            now,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(created)
    }

    /// Saves a license. Seat counts are totals ("old licenses included")
    /// and cannot go below the seats in use: refused with the numbers.
    pub async fn update_license(
        &self,
        actor: &Actor,
        id: LicenseId,
        input: &LicenseInput,
    ) -> Result<License> {
        actor.require_write()?;
        let now = now_millis();
        let space = self.seat_space();
        let mut tx = self.store.begin().await?;
        let before = License::from_row(
            store::licenses::get(&mut tx, id)
                .await?
                .ok_or(ServiceError::NotFound)?,
            space,
        );
        if !actor.can_see(before.vendor_id) {
            return Err(ServiceError::NotFound);
        }
        let base = LicenseBase {
            r#type: before.r#type,
            state: before.saved_state,
            standard_seats: before.standard_seats,
            server_seats: before.server_seats,
            extra_space_gb: before.extra_space_gb,
            client_limit_gb: before.client_limit_gb,
            created: before.created.clone(),
            valid_to: before.valid_to.clone(),
            comments: before.comments.clone(),
        };
        let v = NewLicense::parse(input, &base).map_err(ServiceError::Invalid)?;
        if !store::licenses::update_if_seats_cover_use(&mut tx, id, &fields(&v), now).await? {
            let mut errors = Vec::new();
            if v.standard_seats < before.standard_used {
                errors.push(FieldError::new(
                    "standard_seats",
                    format!("error.seats_below_used|count={}", before.standard_used),
                ));
            }
            if v.server_seats < before.server_used {
                errors.push(FieldError::new(
                    "server_seats",
                    format!("error.seats_below_used|count={}", before.server_used),
                ));
            }
            if errors.is_empty() {
                return Err(ServiceError::Conflict {
                    code: Conflict::SeatsBelowUsed,
                    message: "Seat counts cannot go below the seats in use.".into(),
                });
            }
            return Err(ServiceError::Refused {
                code: Conflict::SeatsBelowUsed,
                errors,
            });
        }
        let after = License::from_row(
            store::licenses::get(&mut tx, id)
                .await?
                .ok_or(ServiceError::NotFound)?,
            space,
        );
        super::audit(
            &mut tx,
            actor,
            now,
            Some(after.vendor_id),
            "license.update",
            "license",
            Some(id.to_db()),
            Some(snapshot(&before)),
            Some(snapshot(&after)),
        )
        .await?;
        let mut data = snapshot(&after);
        data["license_id"] = serde_json::json!(id.to_db());
        data["customer_id"] = serde_json::json!(after.customer_id.to_db());
        let path = format!("/licenses/{}", after.customer_id.to_db());
        self.emit(
            &mut tx,
            Some(after.vendor_id),
            "license.updated",
            data,
            Some(&path),
            now,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(after)
    }
}
