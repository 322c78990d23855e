//! Customers in by CSV (and, on the same row, optionally a license): a dry
//! run that says what every row would do, and an apply that does all rows
//! in one transaction or none, audited as one import. Every field is parsed
//! by the same domain parsers as the forms and the API
//! (`NewCustomer::parse`, `NewLicense::parse`), so the errors and their
//! words are the same.

use std::collections::HashMap;

use serde_json::json;

use super::customers::{CustomerInput, KeyChange, NewCustomer};
use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::csv::{self, Table};
use crate::domain::license::{self as rules, LicenseBase, LicenseInput, NewLicense};
use crate::domain::{CustomerId, FieldError, LicenseId, Secret, VendorId, now_millis};
use crate::i18n::Lang;
use crate::store::{self, StoreError, customers::CustomerRow};

/// The customer columns a file may have: the API's field names.
pub const CUSTOMER_COLUMNS: [&str; 11] = [
    "vendor_id",
    "name",
    "vat_id",
    "street_address",
    "postal_code",
    "postal_area",
    "country",
    "language",
    "contact_email",
    "username_prefix",
    "encryption_key",
];

/// The license columns (the API's license field names); a row with any
/// of them filled in gets a license.
pub const LICENSE_COLUMNS: [&str; 9] = [
    "type",
    "state",
    "standard_seats",
    "server_seats",
    "extra_space_gb",
    "client_limit_gb",
    "created",
    "valid_to",
    "comments",
];

/// Columns of the customer export that an import reads past (they are
/// the console's, not the file's, to decide).
pub const IGNORED_COLUMNS: [&str; 5] = [
    "id",
    "vendor_name",
    "encryption_key_set",
    "created_at",
    "updated_at",
];

/// Rows a file may have at most.
pub const MAX_ROWS: usize = 10_000;

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RowAction {
    /// A new customer.
    Create,
    /// An existing customer of the vendor, matched by VAT id or else by name.
    Update,
    /// The row has errors; nothing is written.
    Error,
}

/// What a row does to licenses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LicenseAction {
    /// A new license for the customer.
    Create,
    /// The customer already has a license: the row's license fields are
    /// not applied (change it on its page or with the API).
    Keep,
}

/// One field's error on a row.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub field: String,
    /// In words (English on the API, the page's language on the console).
    pub message: String,
    /// Stable: the message's key, e.g. `error.vat_check_digit`.
    pub code: String,
}

/// One row's result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportRow {
    /// The row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    pub action: RowAction,
    /// The customer updated (or created, once applied).
    pub customer_id: Option<CustomerId>,
    pub name: String,
    pub license: Option<LicenseAction>,
    pub errors: Vec<RowError>,
}

/// An import's result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Whether the rows were written (never with any row in error).
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub licenses: usize,
    pub error_rows: usize,
    pub rows: Vec<ImportRow>,
}

impl ImportReport {
    /// Puts the messages into words of `lang`.
    pub fn translate(&mut self, lang: Lang) {
        for r in &mut self.rows {
            for e in &mut r.errors {
                e.message = lang.msg(&e.code_full());
            }
        }
    }
}

impl RowError {
    fn of(e: FieldError) -> RowError {
        RowError {
            field: e.field.to_string(),
            code: e.message.split('|').next().unwrap_or("").to_string(),
            message: e.message,
        }
    }
    /// The key with its arguments, as the service wrote it.
    fn code_full(&self) -> String {
        if self.message.starts_with(&self.code) {
            self.message.clone()
        } else {
            self.code.clone()
        }
    }
}

/// A row ready to write.
struct Planned {
    id: CustomerId,
    update: Option<CustomerRow>,
    vendor: VendorId,
    customer: NewCustomer,
    license: Option<NewLicense>,
}

/// The cells of one row by column name.
struct Cells<'a> {
    table: &'a Table,
    row: &'a [String],
}

impl Cells<'_> {
    /// The cell, if the file has the column.
    /// A cell our export defused (`'=…`, `'+…`, `'-…`, `'@…`) comes back
    /// as it was, so an export imports losslessly.
    fn get(&self, name: &str) -> Option<&str> {
        self.table
            .column(name)
            .and_then(|i| self.row.get(i))
            .map(|c| match c.strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
                _ => c.as_str(),
            })
    }
    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }
    fn customer(&self, existing: Option<&CustomerRow>) -> CustomerInput {
        let pick = |name: &str, old: Option<String>| match self.get(name) {
            Some(v) => v.to_string(),
            None => old.unwrap_or_default(),
        };
        let e = existing;
        CustomerInput {
            // The vendor was decided already; the parsed value is not used.
            vendor_id: None,
            name: pick("name", e.map(|c| c.name.clone())),
            vat_id: pick("vat_id", e.map(|c| c.vat_id.clone())),
            street_address: pick("street_address", e.map(|c| c.street_address.clone())),
            postal_code: pick("postal_code", e.map(|c| c.postal_code.clone())),
            postal_area: pick("postal_area", e.map(|c| c.postal_area.clone())),
            country: pick("country", e.map(|c| c.country.clone())),
            language: pick("language", e.map(|c| c.language.clone())),
            contact_email: Some(pick(
                "contact_email",
                e.and_then(|c| c.contact_email.clone()),
            )),
            // An empty cell keeps the key (clearing it would move the
            // clients' repositories to a new one): only a value sets it.
            encryption_key: self
                .get("encryption_key")
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Secret::new(k.to_string())),
            username_prefix: Some(pick(
                "username_prefix",
                e.and_then(|c| c.username_prefix.clone()),
            )),
        }
    }
    /// The license fields, if the row fills any in.
    fn license(&self) -> Option<LicenseInput> {
        if !LICENSE_COLUMNS
            .iter()
            .any(|c| self.get(c).is_some_and(|v| !v.trim().is_empty()))
        {
            return None;
        }
        let cell = |c: &str| {
            self.get(c)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
        };
        Some(LicenseInput {
            r#type: cell("type"),
            state: cell("state"),
            standard_seats: cell("standard_seats"),
            server_seats: cell("server_seats"),
            extra_space_gb: cell("extra_space_gb"),
            client_limit_gb: cell("client_limit_gb"),
            created: cell("created"),
            valid_to: cell("valid_to"),
            comments: cell("comments"),
        })
    }
}

/// Whether saving `f` over `old` would change nothing.
fn unchanged(old: &CustomerRow, f: &store::customers::CustomerFields<'_>) -> bool {
    old.vendor_id == f.vendor_id
        && old.name == f.name
        && old.vat_id == f.vat_id
        && old.street_address == f.street_address
        && old.postal_code == f.postal_code
        && old.postal_area == f.postal_area
        && old.country == f.country
        && old.language == f.language
        && old.contact_email.as_deref() == f.contact_email
        && old.encryption_key_enc.as_deref() == f.encryption_key_enc
        && old.username_prefix.as_deref() == f.username_prefix
}

/// The keys a customer is matched by within its vendor.
fn name_key(vendor: VendorId, name: &str) -> (VendorId, String) {
    (vendor, name.trim().to_lowercase())
}

impl Services {
    /// Imports customers from a CSV file. A dry run (or a file with any
    /// row in error) writes nothing; otherwise every row is written in one
    /// transaction with one audit row for the whole import.
    pub async fn import_customers(
        &self,
        actor: &Actor,
        text: &str,
        dry_run: bool,
    ) -> Result<ImportReport> {
        actor.require_write()?;
        let table = csv::read(text).map_err(ServiceError::from)?;
        let mut header_errors = Vec::new();
        for h in &table.header {
            if !CUSTOMER_COLUMNS.contains(&h.as_str())
                && !LICENSE_COLUMNS.contains(&h.as_str())
                && !IGNORED_COLUMNS.contains(&h.as_str())
            {
                header_errors.push(FieldError::new(
                    "file",
                    format!("error.csv_unknown_column|column={h}"),
                ));
            }
        }
        if table.column("name").is_none() {
            header_errors.push(FieldError::new("file", "error.csv_no_name"));
        }
        if !header_errors.is_empty() {
            return Err(ServiceError::Invalid(header_errors));
        }
        if table.rows.len() > MAX_ROWS {
            return Err(ServiceError::invalid(
                "file",
                format!("error.csv_too_many_rows|max={MAX_ROWS}"),
            ));
        }
        let scope_vendor = match actor.scope() {
            Scope::All => None,
            Scope::Vendor(v) => Some(v),
        };
        let today = rules::today();
        let license_base = LicenseBase::new_license(today);

        // What is there: one query each, matched in memory.
        let mut c = self.store.read().await?;
        let vendors = store::vendors::list(&mut c).await?;
        let default_vendor = vendors.iter().find(|v| v.is_default == 1).map(|v| v.id);
        let existing = store::customers::all_of(&mut c, scope_vendor).await?;
        let prefixes: HashMap<String, CustomerId> = store::customers::prefixes(&mut c)
            .await?
            .into_iter()
            .collect();
        let licensed: std::collections::HashSet<CustomerId> =
            store::customers::with_licenses(&mut c, scope_vendor)
                .await?
                .into_iter()
                .collect();
        drop(c);
        let mut by_vat: HashMap<(VendorId, String), Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(VendorId, String), Vec<usize>> = HashMap::new();
        for (i, e) in existing.iter().enumerate() {
            if !e.vat_id.is_empty() {
                by_vat
                    .entry((e.vendor_id, e.vat_id.clone()))
                    .or_default()
                    .push(i);
            }
            by_name
                .entry(name_key(e.vendor_id, &e.name))
                .or_default()
                .push(i);
        }

        let mut rows = Vec::with_capacity(table.rows.len());
        let mut plans: Vec<Planned> = Vec::with_capacity(table.rows.len());
        // Keys already taken by an earlier row of the file: its row number.
        let mut seen: HashMap<(VendorId, String), usize> = HashMap::new();
        let mut seen_prefix: HashMap<String, usize> = HashMap::new();
        for (n, cells) in &table.rows {
            let cells = Cells {
                table: &table,
                row: cells,
            };
            let mut errors: Vec<FieldError> = Vec::new();
            // The vendor: an operator's own (naming another is an error of
            // the row, and says no more than "no such vendor"); an admin's
            // named one, or the default.
            let named = cells
                .get("vendor_id")
                .map(str::trim)
                .filter(|v| !v.is_empty());
            let vendor = match (scope_vendor, named) {
                (Some(own), None) => Some(own),
                (Some(own), Some(v)) => match v.parse::<VendorId>() {
                    Ok(v) if v == own => Some(own),
                    _ => None,
                },
                // An admin's file from another console (an export) names
                // vendors this one does not know by id: the vendor of the
                // same name is meant.
                (None, named) => named
                    .and_then(|v| v.parse::<VendorId>().ok())
                    .filter(|v| vendors.iter().any(|r| r.id == *v))
                    .or_else(|| {
                        let by_name = cells.get("vendor_name").map(|n| n.trim().to_lowercase())?;
                        vendors
                            .iter()
                            .find(|r| r.name.to_lowercase() == by_name)
                            .map(|r| r.id)
                    })
                    .or(if named.is_none() {
                        default_vendor
                    } else {
                        None
                    }),
            };
            if vendor.is_none() {
                errors.push(FieldError::new("vendor_id", "error.vendor_unknown"));
            }
            let first = NewCustomer::parse(&cells.customer(None));
            let license = match cells.license() {
                None => None,
                Some(input) => match NewLicense::parse(&input, &license_base) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                },
            };
            let mut matched: Option<&CustomerRow> = None;
            let mut parsed = None;
            match first {
                Err(e) => errors.extend(e),
                Ok(p) => parsed = Some(p),
            }
            if let (Some(v), Some(p)) = (vendor, parsed.as_ref()) {
                let (field, key, hits) = if !p.vat_id.is_empty() {
                    let k = (v, p.vat_id.clone());
                    ("vat_id", k.clone(), by_vat.get(&k))
                } else {
                    let k = name_key(v, &p.name);
                    ("name", k.clone(), by_name.get(&k))
                };
                match hits.map(Vec::as_slice) {
                    Some([one]) => matched = existing.get(*one),
                    Some([_, _, ..]) => {
                        errors.push(FieldError::new(field, "error.import_ambiguous"))
                    }
                    _ => {}
                }
                if let Some(first_row) = seen.get(&key) {
                    errors.push(FieldError::new(
                        field,
                        format!("error.import_duplicate|row={first_row}"),
                    ));
                } else {
                    seen.insert(key, *n);
                }
            }
            // Updating merges the row over the customer's saved fields.
            let customer = match (matched, parsed) {
                (Some(m), Some(_)) => match NewCustomer::parse(&cells.customer(Some(m))) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                },
                (None, p) => p,
                (Some(_), None) => None,
            };
            let id = matched.map(|m| m.id).unwrap_or_default();
            if let Some(p) = customer.as_ref().and_then(|c| c.username_prefix.as_ref()) {
                if prefixes
                    .get(p)
                    .is_some_and(|owner| matched.is_none_or(|m| m.id != *owner))
                {
                    errors.push(FieldError::new("username_prefix", "error.prefix_taken"));
                } else if let Some(r) = seen_prefix.get(p) {
                    errors.push(FieldError::new(
                        "username_prefix",
                        format!("error.import_duplicate|row={r}"),
                    ));
                } else {
                    seen_prefix.insert(p.clone(), *n);
                }
            }
            let license_action = match (&license, matched) {
                (None, _) => None,
                (Some(_), Some(m)) if licensed.contains(&m.id) => Some(LicenseAction::Keep),
                (Some(_), _) => Some(LicenseAction::Create),
            };
            let name = customer
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| cells.text("name").trim().to_string());
            let action = if !errors.is_empty() {
                RowAction::Error
            } else if matched.is_some() {
                RowAction::Update
            } else {
                RowAction::Create
            };
            rows.push(ImportRow {
                row: *n,
                action,
                customer_id: matched.map(|m| m.id),
                name,
                license: license_action,
                errors: errors.into_iter().map(RowError::of).collect(),
            });
            if let (RowAction::Create | RowAction::Update, Some(v), Some(c)) =
                (action, vendor, customer)
            {
                plans.push(Planned {
                    id: if matched.is_some() {
                        id
                    } else {
                        CustomerId::new()
                    },
                    update: matched.cloned(),
                    vendor: v,
                    customer: c,
                    license: if license_action == Some(LicenseAction::Create) {
                        license
                    } else {
                        None
                    },
                });
            }
        }
        let count = |a: RowAction| rows.iter().filter(|r| r.action == a).count();
        let mut report = ImportReport {
            dry_run,
            applied: false,
            created: count(RowAction::Create),
            updated: count(RowAction::Update),
            licenses: rows
                .iter()
                .filter(|r| {
                    r.action != RowAction::Error && r.license == Some(LicenseAction::Create)
                })
                .count(),
            error_rows: count(RowAction::Error),
            rows,
        };
        if dry_run || report.error_rows > 0 {
            return Ok(report);
        }
        self.apply_import(actor, &plans, &report).await?;
        // The new customers' ids, now that they exist.
        let mut created = plans.iter().filter(|p| p.update.is_none()).map(|p| p.id);
        for r in &mut report.rows {
            if r.action == RowAction::Create {
                r.customer_id = created.next();
            }
        }
        report.applied = true;
        Ok(report)
    }

    async fn apply_import(
        &self,
        actor: &Actor,
        plans: &[Planned],
        report: &ImportReport,
    ) -> Result<()> {
        let now = now_millis();
        // Keys are encrypted before the transaction (no CPU work while the
        // one SQLite writer is held longer than it must be).
        let mut keys: Vec<Option<String>> = Vec::with_capacity(plans.len());
        for p in plans {
            keys.push(match (&p.customer.encryption_key, &p.update) {
                (KeyChange::Set(k), _) => Some(self.key.encrypt(k.expose())?),
                (_, Some(old)) => old.encryption_key_enc.clone(),
                (_, None) => Some(self.key.encrypt(crate::keys::random_token()?.expose())?),
            });
        }
        let prefix_taken = |e: StoreError| match e {
            StoreError::Unique(_) => ServiceError::Invalid(vec![FieldError::new(
                "username_prefix",
                "error.prefix_taken",
            )]),
            e => e.into(),
        };
        let mut tx = self.store.begin().await?;
        // New customers and their licenses in multi-row statements; updates
        // one by one (each also refreshes the installations' copy of the
        // customer's fields).
        let mut new_customers = Vec::new();
        for (p, key) in plans.iter().zip(&keys) {
            let fields = super::customers::fields(&p.customer, p.vendor, key.as_deref());
            match &p.update {
                None => new_customers.push((p.id, fields)),
                // A row that changes nothing is not written (re-importing
                // the same file is quick and leaves updated_at alone).
                Some(old) if unchanged(old, &fields) => {}
                Some(_) => {
                    store::customers::update(&mut tx, p.id, &fields, now)
                        .await
                        .map_err(prefix_taken)?;
                }
            }
        }
        store::customers::insert_many(&mut tx, &new_customers, now)
            .await
            .map_err(prefix_taken)?;
        let licenses: Vec<_> = plans
            .iter()
            .filter_map(|p| {
                p.license
                    .as_ref()
                    .map(|l| (LicenseId::new(), p.id, super::licenses::fields(l)))
            })
            .collect();
        store::licenses::insert_many(&mut tx, &licenses, now).await?;
        let mut vendors: Vec<VendorId> = plans.iter().map(|p| p.vendor).collect();
        vendors.sort_by_key(|v| v.0);
        vendors.dedup();
        let audit_vendor = match vendors.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        super::audit(
            &mut tx,
            actor,
            now,
            audit_vendor,
            "customer.import",
            "import",
            None,
            None,
            Some(json!({
                "rows": report.rows.len(), "created": report.created, "updated": report.updated,
                "licenses": report.licenses, "vendors": vendors,
            })),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
