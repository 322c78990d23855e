//! Customers: the seed's step 1, "Defining the customer".

use crate::domain::Conflict;
use serde_json::json;

use super::{Actor, Page, Result, Scope, ServiceError, Services};
use crate::domain::{CustomerId, Email, FieldError, Secret, VendorId, now_millis};
use crate::store::{self, customers::CustomerRow};

/// A customer as the faces show it. The encryption key itself is never
/// part of it: only whether one is set (revealing is its own action).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub vendor_id: VendorId,
    pub vendor_name: String,
    pub name: String,
    pub vat_id: String,
    pub street_address: String,
    pub postal_code: String,
    pub postal_area: String,
    pub country: String,
    pub language: String,
    pub contact_email: Option<String>,
    pub encryption_key_set: bool,
    pub username_prefix: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = ServiceError;
    fn try_from(r: CustomerRow) -> Result<Customer> {
        Ok(Customer {
            id: r.id,
            vendor_id: r.vendor_id,
            vendor_name: r.vendor_name,
            name: r.name,
            vat_id: r.vat_id,
            street_address: r.street_address,
            postal_code: r.postal_code,
            postal_area: r.postal_area,
            country: r.country,
            language: r.language,
            contact_email: r.contact_email,
            encryption_key_set: r.encryption_key_enc.is_some(),
            username_prefix: r.username_prefix,
            created_at: crate::domain::rfc3339(r.created_at),
            updated_at: crate::domain::rfc3339(r.updated_at),
        })
    }
}

impl Customer {
    /// The seed's picker label: `Testiasiakas Oy (1231231231123123)`.
    pub fn label(&self) -> String {
        if self.vat_id.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.vat_id)
        }
    }
}

pub use crate::domain::customer::{CustomerInput, KeyChange, NewCustomer};

/// The row to store, with the owning vendor and the encrypted key.
pub(super) fn fields<'a>(
    c: &'a NewCustomer,
    vendor_id: VendorId,
    key_enc: Option<&'a str>,
) -> store::customers::CustomerFields<'a> {
    store::customers::CustomerFields {
        vendor_id,
        name: &c.name,
        vat_id: &c.vat_id,
        street_address: &c.street_address,
        postal_code: &c.postal_code,
        postal_area: &c.postal_area,
        country: &c.country,
        language: &c.language,
        contact_email: c.contact_email.as_ref().map(Email::as_str),
        encryption_key_enc: key_enc,
        username_prefix: c.username_prefix.as_deref(),
    }
}

/// A customer the actor may see; another vendor's is "not found".
async fn visible(conn: &mut store::Conn, actor: &Actor, id: CustomerId) -> Result<CustomerRow> {
    let row = store::customers::get(conn, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if !actor.can_see(row.vendor_id) {
        return Err(ServiceError::NotFound);
    }
    Ok(row)
}

fn prefix_taken() -> ServiceError {
    ServiceError::Invalid(vec![FieldError::new(
        "username_prefix",
        "error.prefix_taken",
    )])
}

/// The audit picture of a customer: every field, the key only as set/unset.
pub(super) fn snapshot(c: &Customer) -> serde_json::Value {
    json!({
        "vendor_id": c.vendor_id, "name": c.name, "vat_id": c.vat_id, "street_address": c.street_address,
        "postal_code": c.postal_code, "postal_area": c.postal_area, "country": c.country, "language": c.language,
        "contact_email": c.contact_email, "encryption_key": if c.encryption_key_set { "set" } else { "not set" },
        "username_prefix": c.username_prefix,
    })
}

impl Services {
    /// The vendor a new or moved customer goes to: an admin names one (or
    /// gets the default vendor); everyone else gets their own vendor, and
    /// naming another vendor is "not found".
    async fn owning_vendor(
        &self,
        actor: &Actor,
        requested: Option<VendorId>,
        conn: &mut store::Conn,
    ) -> Result<VendorId> {
        match (actor.scope(), requested) {
            (Scope::Vendor(own), None) => Ok(own),
            (Scope::Vendor(own), Some(v)) if v == own => Ok(own),
            (Scope::Vendor(_), Some(_)) => Err(ServiceError::NotFound),
            (Scope::All, Some(v)) => match store::vendors::get(conn, v).await? {
                Some(_) => Ok(v),
                None => Err(ServiceError::invalid("vendor_id", "error.vendor_unknown")),
            },
            (Scope::All, None) => match store::vendors::get_default(conn).await? {
                Some(v) => Ok(v.id),
                None => Err(ServiceError::Internal(anyhow::anyhow!("no default vendor"))),
            },
        }
    }

    /// Customers the actor may see, by name; `vendor` narrows an admin's
    /// view ("Filter view by vendor"), `search` matches name, VAT id and
    /// prefix.
    pub async fn list_customers(
        &self,
        actor: &Actor,
        vendor: Option<VendorId>,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Page<Customer>> {
        let vendor = match actor.scope() {
            Scope::All => vendor,
            Scope::Vendor(own) => Some(own),
        };
        let after = match cursor.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => Some(
                c.parse::<CustomerId>()
                    .map_err(|_| ServiceError::invalid("cursor", "error.cursor"))?,
            ),
        };
        let limit = limit.clamp(1, 200);
        let mut c = self.store.read().await?;
        let rows = store::customers::list(&mut c, vendor, search, after, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        let items: Vec<Customer> = rows
            .into_iter()
            .take(limit as usize)
            .map(Customer::try_from)
            .collect::<Result<_>>()?;
        let next_cursor = if more {
            items.last().map(|c| c.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// One customer, if the actor may see it (else "not found").
    pub async fn get_customer(&self, actor: &Actor, id: CustomerId) -> Result<Customer> {
        let mut c = self.store.read().await?;
        let row = visible(&mut c, actor, id).await?;
        row.try_into()
    }

    /// Creates a customer. The input is parsed after the permission check
    /// (a viewer is refused whatever it sent).
    pub async fn create_customer(&self, actor: &Actor, input: &CustomerInput) -> Result<Customer> {
        actor.require_write()?;
        let v = NewCustomer::parse(input).map_err(ServiceError::Invalid)?;
        let now = now_millis();
        let id = CustomerId::new();
        // Every customer has a key: it is the password of its clients'
        // backup repositories. Without one given, a random one.
        let key_enc = match &v.encryption_key {
            KeyChange::Set(k) => Some(self.key.encrypt(k.expose())?),
            KeyChange::Keep | KeyChange::Clear => {
                Some(self.key.encrypt(crate::keys::random_token()?.expose())?)
            }
        };
        let mut tx = self.store.begin().await?;
        let vendor_id = self.owning_vendor(actor, v.vendor_id, &mut tx).await?;
        let fields = fields(&v, vendor_id, key_enc.as_deref());
        store::customers::insert(&mut tx, id, &fields, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Unique(_) => prefix_taken(),
                e => e.into(),
            })?;
        let created: Customer = store::customers::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()?;
        super::audit(
            &mut tx,
            actor,
            now,
            Some(vendor_id),
            "customer.create",
            "customer",
            Some(id.to_db()),
            None,
            Some(snapshot(&created)),
        )
        .await?;
        let mut data = snapshot(&created);
        data["customer_id"] = serde_json::json!(id.to_db());
        let path = format!("/licenses/{}", id.to_db());
        self.emit(
            &mut tx,
            Some(vendor_id),
            "customer.created",
            data,
            Some(&path),
            now,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(created)
    }

    pub async fn update_customer(
        &self,
        actor: &Actor,
        id: CustomerId,
        input: &CustomerInput,
    ) -> Result<Customer> {
        actor.require_write()?;
        let v = NewCustomer::parse(input).map_err(ServiceError::Invalid)?;
        let now = now_millis();
        let new_key_enc = match &v.encryption_key {
            KeyChange::Set(k) => Some(Some(self.key.encrypt(k.expose())?)),
            // Clearing gives a new random key (the clients move their
            // repositories to it at their next run): never none.
            KeyChange::Clear => Some(Some(
                self.key.encrypt(crate::keys::random_token()?.expose())?,
            )),
            KeyChange::Keep => None,
        };
        let mut tx = self.store.begin().await?;
        let before_row = visible(&mut tx, actor, id).await?;
        let vendor_id = match v.vendor_id {
            None => before_row.vendor_id,
            Some(named) => self.owning_vendor(actor, Some(named), &mut tx).await?,
        };
        let key_enc = match new_key_enc {
            None => before_row.encryption_key_enc.clone(),
            Some(k) => k,
        };
        let key_changed = key_enc != before_row.encryption_key_enc;
        let before: Customer = before_row.try_into()?;
        let fields = fields(&v, vendor_id, key_enc.as_deref());
        store::customers::update(&mut tx, id, &fields, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Unique(_) => prefix_taken(),
                e => e.into(),
            })?;
        let after: Customer = store::customers::get(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound)?
            .try_into()?;
        let mut after_json = snapshot(&after);
        if key_changed {
            after_json["encryption_key"] = json!(if after.encryption_key_set {
                "changed"
            } else {
                "removed"
            });
        }
        super::audit(
            &mut tx,
            actor,
            now,
            Some(vendor_id),
            "customer.update",
            "customer",
            Some(id.to_db()),
            Some(snapshot(&before)),
            Some(after_json),
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(after)
    }

    /// Deletes a customer and its licenses; refused with the reason while
    /// any of its seats is in use.
    pub async fn delete_customer(&self, actor: &Actor, id: CustomerId) -> Result<()> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let row = visible(&mut tx, actor, id).await?;
        let vendor = row.vendor_id;
        let before: Customer = row.try_into()?;
        if !store::customers::delete_if_unused(&mut tx, id).await? {
            let n = store::customers::seats_in_use(&mut tx, id).await?;
            return Err(ServiceError::Conflict {
                code: Conflict::CustomerHasInstallations,
                message: format!(
                    "{} has {n} active installation(s); deactivate them before deleting the customer.",
                    before.name
                ),
            });
        }
        super::audit(
            &mut tx,
            actor,
            now,
            Some(vendor),
            "customer.delete",
            "customer",
            Some(id.to_db()),
            Some(snapshot(&before)),
            None,
        )
        .await?;
        let mut data = snapshot(&before);
        data["customer_id"] = serde_json::json!(id.to_db());
        self.emit(&mut tx, Some(vendor), "customer.deleted", data, None, now)
            .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(())
    }

    /// Shows a customer's encryption key — a separate, audited action
    /// for operators and admins (viewers may not).
    pub async fn reveal_encryption_key(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<Option<Secret<String>>> {
        actor.require_write()?;
        let now = now_millis();
        let mut tx = self.store.begin().await?;
        let row = visible(&mut tx, actor, id).await?;
        let key = match &row.encryption_key_enc {
            Some(enc) => Some(self.key.decrypt(enc)?),
            None => None,
        };
        super::audit(
            &mut tx,
            actor,
            now,
            Some(row.vendor_id),
            "customer.reveal_encryption_key",
            "customer",
            Some(id.to_db()),
            None,
            None,
        )
        .await?;
        tx.commit().await.map_err(store::StoreError::from)?;
        Ok(key)
    }
}
