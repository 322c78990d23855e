//! Customers in by CSV (and, on the same row, optionally a license and an
//! invite; more invites on rows repeating the customer): a dry
//! run that says what every row would do, and an apply that does all rows
//! in one transaction or none, audited as one import. Every field is parsed
//! by the same domain parsers as the forms and the API
//! (`NewCustomer::parse`, `NewLicense::parse`, `NewInvite::parse`), so the errors and their
//! words are the same.

use std::collections::HashMap;

use serde_json::json;

use super::customers::{CustomerInput, KeyChange, NewCustomer};
use super::{Actor, Result, Scope, ServiceError, Services};
use crate::domain::csv::{self, Table};
use crate::domain::invite::{InviteInput, NewInvite};
use crate::domain::license::{self as rules, LicenseBase, LicenseInput, NewLicense};
use crate::domain::{CustomerId, FieldError, InviteId, LicenseId, Secret, VendorId, now_millis};
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

/// The invite columns (the API's invite field names): a row with any of
/// them filled in adds an invite to its customer's license — the license
/// the row creates, or the customer's one license. A customer with more
/// invites is repeated on the following rows (same VAT id or name), each
/// with one invite; such a row's other cells are empty or the same as on
/// the customer's first row.
pub const INVITE_COLUMNS: [&str; 4] = ["username", "email", "software_type", "store_deleted_days"];

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
    /// The row repeats the customer of an earlier row to add one more
    /// invite (see [`INVITE_COLUMNS`]).
    Invite,
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
    /// The invite's username (with the customer's prefix), if the row
    /// adds an invite.
    pub invite: Option<String>,
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
    /// Invites created (never sent: send them from Installations).
    pub invites: usize,
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
    /// The customer's existing license that the invites go to, when the
    /// row creates none.
    invite_license: Option<LicenseId>,
    invites: Vec<NewInvite>,
}

/// What the later rows of a customer (each adding an invite) need of its
/// first row.
struct FirstRow {
    /// Its index in the report's rows.
    row_index: usize,
    customer_id: Option<CustomerId>,
    name: String,
    prefix: Option<String>,
    /// The license its invites go to (`None`: the one the row creates),
    /// or why there is none.
    target: std::result::Result<Option<LicenseId>, &'static str>,
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
    /// The invite fields, if the row fills any in.
    fn invite(&self) -> Option<InviteInput> {
        if !INVITE_COLUMNS
            .iter()
            .any(|c| self.get(c).is_some_and(|v| !v.trim().is_empty()))
        {
            return None;
        }
        Some(InviteInput {
            username: self.text("username"),
            email: self.text("email"),
            software_type: self.text("software_type"),
            store_deleted_days: self
                .get("store_deleted_days")
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string),
            replaces_installation_id: None,
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
                && !INVITE_COLUMNS.contains(&h.as_str())
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
        let mut licenses_of: HashMap<CustomerId, Vec<LicenseId>> = HashMap::new();
        for (customer, license) in store::licenses::ids_by_customer(&mut c, scope_vendor).await? {
            licenses_of.entry(customer).or_default().push(license);
        }
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
        // Keys already taken by an earlier row of the file: its row number
        // and its index in the file, and its plan (if it has no errors).
        let mut seen: HashMap<(VendorId, String), (usize, usize)> = HashMap::new();
        let mut plan_of: HashMap<(VendorId, String), usize> = HashMap::new();
        // What an invite on a later row of the same customer needs.
        let mut first_rows: HashMap<(VendorId, String), FirstRow> = HashMap::new();
        let mut seen_username: HashMap<String, usize> = HashMap::new();
        // A customer's name key → its key (its VAT id), for rows that add
        // an invite and repeat the name only.
        let mut seen_names: HashMap<(VendorId, String), (VendorId, String)> = HashMap::new();
        // (row, its customer's first row) of the rows that add an invite.
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        let mut seen_prefix: HashMap<String, usize> = HashMap::new();
        for (index, (n, cells)) in table.rows.iter().enumerate() {
            let cells = Cells {
                table: &table,
                row: cells,
            };
            let invite_input = cells.invite();
            // The customer of an earlier row, when this row repeats it to
            // add an invite: its key.
            let mut repeat_of: Option<(VendorId, String)> = None;
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
            let mut first_key: Option<(VendorId, String)> = None;
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
                // A row adding an invite may repeat only the name of a
                // customer whose first row has a VAT id.
                let key = match (field, &invite_input) {
                    ("name", Some(_)) => seen_names.get(&key).cloned().unwrap_or(key),
                    _ => key,
                };
                if let Some((first_row, first_index)) = seen.get(&key) {
                    if invite_input.is_some() {
                        // Its other cells are empty or the first row's.
                        let first = Cells {
                            table: &table,
                            row: &table.rows[*first_index].1,
                        };
                        for col in CUSTOMER_COLUMNS.iter().chain(&LICENSE_COLUMNS) {
                            let here = cells.get(col).map(str::trim).unwrap_or("");
                            let there = first.get(col).map(str::trim).unwrap_or("");
                            if !here.is_empty() && here != there {
                                errors.push(FieldError::new(
                                    col,
                                    format!("error.import_repeat_differs|{first_row}"),
                                ));
                            }
                        }
                        repeat_of = Some(key.clone());
                    } else {
                        errors.push(FieldError::new(
                            field,
                            format!("error.import_duplicate|row={first_row}"),
                        ));
                    }
                } else {
                    seen.insert(key.clone(), (*n, index));
                    if field == "vat_id" {
                        seen_names
                            .entry(name_key(v, &p.name))
                            .or_insert(key.clone());
                    }
                    first_key = Some(key);
                }
                if repeat_of.is_none() {
                    match hits.map(Vec::as_slice) {
                        Some([one]) => matched = existing.get(*one),
                        Some([_, _, ..]) => {
                            errors.push(FieldError::new(field, "error.import_ambiguous"))
                        }
                        _ => {}
                    }
                }
            }
            if let Some(key) = repeat_of {
                let first = first_rows.get(&key);
                let mut invite = None;
                if let Some(input) = &invite_input {
                    match NewInvite::parse(input, first.and_then(|f| f.prefix.as_deref())) {
                        Ok(i) => invite = Some(i),
                        Err(e) => errors.extend(e),
                    }
                }
                if let Some(f) = first
                    && let Err(e) = f.target
                {
                    errors.push(FieldError::new("username", e));
                }
                let username = invite.as_ref().map(|i| i.username.clone());
                if let Some(u) = &username {
                    if let Some(r) = seen_username.get(u) {
                        errors.push(FieldError::new(
                            "username",
                            format!("error.import_duplicate_username|{r}"),
                        ));
                    } else {
                        seen_username.insert(u.clone(), *n);
                    }
                }
                let action = if errors.is_empty() {
                    RowAction::Invite
                } else {
                    RowAction::Error
                };
                if let Some(f) = first {
                    repeats.push((rows.len(), f.row_index));
                }
                rows.push(ImportRow {
                    row: *n,
                    action,
                    customer_id: first.and_then(|f| f.customer_id),
                    name: first
                        .map(|f| f.name.clone())
                        .unwrap_or_else(|| cells.text("name").trim().to_string()),
                    license: None,
                    invite: username,
                    errors: errors.into_iter().map(RowError::of).collect(),
                });
                if let (RowAction::Invite, Some(i), Some(p)) = (
                    action,
                    invite,
                    plan_of.get(&key).and_then(|i| plans.get_mut(*i)),
                ) {
                    p.invites.push(i);
                }
                continue;
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
            let existing_licenses = matched
                .and_then(|m| licenses_of.get(&m.id))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let license_action = match (&license, existing_licenses) {
                (None, _) => None,
                (Some(_), [_, ..]) => Some(LicenseAction::Keep),
                (Some(_), []) => Some(LicenseAction::Create),
            };
            // Where this customer's invites go: the license the row
            // creates, or the customer's one license.
            let target: std::result::Result<Option<LicenseId>, &'static str> =
                match (license_action, existing_licenses) {
                    (Some(LicenseAction::Create), _) => Ok(None),
                    (_, [one]) => Ok(Some(*one)),
                    (_, []) => Err("error.import_invite_no_license"),
                    (_, [_, _, ..]) => Err("error.import_invite_which_license"),
                };
            let prefix = customer.as_ref().and_then(|c| c.username_prefix.clone());
            let mut invite = None;
            if let Some(input) = &invite_input {
                match NewInvite::parse(input, prefix.as_deref()) {
                    Ok(i) => invite = Some(i),
                    Err(e) => errors.extend(e),
                }
                if let Err(e) = target {
                    errors.push(FieldError::new("username", e));
                }
            }
            let username = invite.as_ref().map(|i| i.username.clone());
            if let Some(u) = &username {
                if let Some(r) = seen_username.get(u) {
                    errors.push(FieldError::new(
                        "username",
                        format!("error.import_duplicate_username|{r}"),
                    ));
                } else {
                    seen_username.insert(u.clone(), *n);
                }
            }
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
            if let Some(key) = first_key.clone() {
                first_rows.insert(
                    key,
                    FirstRow {
                        row_index: rows.len(),
                        customer_id: matched.map(|m| m.id),
                        name: name.clone(),
                        prefix,
                        target,
                    },
                );
            }
            rows.push(ImportRow {
                row: *n,
                action,
                customer_id: matched.map(|m| m.id),
                name,
                license: license_action,
                invite: username,
                errors: errors.into_iter().map(RowError::of).collect(),
            });
            if let (RowAction::Create | RowAction::Update, Some(v), Some(c)) =
                (action, vendor, customer)
            {
                if let Some(key) = first_key {
                    plan_of.insert(key, plans.len());
                }
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
                    invite_license: target.ok().flatten(),
                    invites: invite.into_iter().collect(),
                });
            }
        }
        // Usernames are unique across the service: one query for all the
        // file's.
        let wanted: Vec<String> = seen_username.keys().cloned().collect();
        if !wanted.is_empty() {
            let mut c = self.store.read().await?;
            let taken = store::invites::usernames_taken(&mut c, &wanted).await?;
            drop(c);
            for r in &mut rows {
                if r.invite.as_ref().is_some_and(|u| taken.contains(u)) {
                    r.errors.push(RowError::of(FieldError::new(
                        "username",
                        "error.username_taken",
                    )));
                    r.action = RowAction::Error;
                }
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
            invites: rows
                .iter()
                .filter(|r| r.action != RowAction::Error && r.invite.is_some())
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
        for (row, first) in repeats {
            let id = report.rows.get(first).and_then(|f| f.customer_id);
            if let Some(r) = report.rows.get_mut(row) {
                r.customer_id = id;
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
        // Activation codes, drawn and encrypted before the transaction too.
        let mut invites: Vec<(String, String)> = Vec::new();
        for _ in plans.iter().flat_map(|p| &p.invites) {
            let code = super::invites::code_from_os()?;
            invites.push((
                self.key.encrypt(&code)?,
                self.key
                    .lookup_hash("activation", &crate::domain::invite::normalize_code(&code)),
            ));
        }
        let prefix_taken = |e: StoreError| match e {
            StoreError::Unique(_) => ServiceError::Invalid(vec![FieldError::new(
                "username_prefix",
                "error.prefix_taken",
            )]),
            e => e.into(),
        };
        let mut tx = self.store.begin().await?;
        // New customers and their licenses in multi-row statements, the
        // changed customers in batched UPDATEs (each batch also refreshes
        // the installations' and alerts' copies of the customers' fields).
        let mut new_customers = Vec::new();
        let mut changed = Vec::new();
        for (p, key) in plans.iter().zip(&keys) {
            let fields = super::customers::fields(&p.customer, p.vendor, key.as_deref());
            match &p.update {
                None => new_customers.push((p.id, fields)),
                // A row that changes nothing is not written (re-importing
                // the same file is quick and leaves updated_at alone).
                Some(old) if unchanged(old, &fields) => {}
                Some(_) => changed.push((p.id, fields)),
            }
        }
        // A customer deleted since the rows were read is not there to
        // update (as with the single-row update before): the count is not
        // an error.
        store::customers::update_many(&mut tx, &changed, now)
            .await
            .map_err(prefix_taken)?;
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
        // Each customer's invites on its new license or its one license.
        let mut new_license = licenses.iter().map(|(id, _, _)| *id);
        let mut rows = Vec::with_capacity(invites.len());
        let mut codes = invites.iter();
        for p in plans {
            let license = if p.license.is_some() {
                new_license.next()
            } else {
                p.invite_license
            };
            for i in &p.invites {
                let (Some(license), Some((code_enc, code_hash))) = (license, codes.next()) else {
                    return Err(ServiceError::Internal(anyhow::anyhow!(
                        "an imported invite without a license"
                    )));
                };
                rows.push(store::invites::NewInviteRow {
                    id: InviteId::new(),
                    license_id: license,
                    username: &i.username,
                    email: i.email.as_str(),
                    software_type: i.software_type.as_str(),
                    store_deleted_days: i.store_deleted_days,
                    code_enc,
                    code_hash,
                    expires_at: now + self.config.invite_valid_days * 24 * 3600 * 1000,
                    replaces: None,
                });
            }
        }
        store::invites::insert_many(&mut tx, &rows, now)
            .await
            .map_err(|e| match e {
                StoreError::Unique(_) => {
                    ServiceError::Invalid(vec![FieldError::new("username", "error.username_taken")])
                }
                e => e.into(),
            })?;
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
                "licenses": report.licenses, "invites": report.invites, "vendors": vendors,
            })),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
