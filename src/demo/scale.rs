//! `command-center demo --customers N --installations N --reports N`:
//! bulk data for scale checks and the monitoring benchmark — generated
//! vendors (one per 1,000 customers), customers with one license each,
//! clients spread evenly over them, and daily backup runs for every client
//! that reports (see `store::generate` for the mix of healths).

use std::time::Instant;

use crate::domain::{CustomerId, InstallationId, LicenseId, VendorId, now_millis};
use crate::service::Services;
use crate::store::generate::{self, Value};

/// How much to make.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scale {
    pub customers: u64,
    pub installations: u64,
    pub reports: u64,
}

fn today_plus(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(days);
    d.to_string()
}

/// Makes the data; returns lines to print.
pub async fn generate(s: &Services, scale: Scale) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    if scale.customers == 0 {
        return Ok(out);
    }
    {
        let mut c = s.store.read().await?;
        if generate::exists(&mut c).await? {
            out.push("Generated data is there already; nothing added.".into());
            return Ok(out);
        }
    }
    let started = Instant::now();
    let now = now_millis();
    let customers = scale.customers as i64;
    let installations = scale.installations as i64;
    let per_customer = installations / customers;
    let extra = installations % customers;

    let vendor_count = (customers / 1000).max(1);
    let vendors: Vec<VendorId> = (0..vendor_count).map(|_| VendorId::new()).collect();
    let mut tx = s.store.begin().await?;
    generate::insert_rows(
        &mut tx,
        "vendors",
        &["id", "name", "created_at", "updated_at"],
        &vendors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                vec![
                    Value::Text(v.to_db()),
                    Value::Text(format!("Generated vendor {}", i + 1)),
                    Value::Int(now),
                    Value::Int(now),
                ]
            })
            .collect::<Vec<_>>(),
    )
    .await?;

    let mut customer_rows = Vec::new();
    let mut license_rows = Vec::new();
    let mut installation_rows = Vec::new();
    let mut seq = 0i64;
    for i in 0..customers {
        let customer = CustomerId::new();
        let license = LicenseId::new();
        let vendor = vendors[(i % vendor_count) as usize];
        let name = format!("Generated customer {:05} Oy", i + 1);
        let lang = if i % 3 == 0 { "en" } else { "fi" };
        customer_rows.push(vec![
            Value::Text(customer.to_db()),
            Value::Text(vendor.to_db()),
            Value::Text(name.clone()),
            Value::Text(lang.into()),
            Value::Text(name.to_lowercase()),
            Value::Int(now),
            Value::Int(now),
        ]);
        let count = per_customer + i64::from(i < extra);
        // The first client of each customer is a server; the rest standard.
        let (server, standard) = if count > 0 { (1, count - 1) } else { (0, 0) };
        // Every 20th customer has a 30 GB client limit; every 50th license
        // ends within a month.
        let client_limit = if i % 20 == 0 { 30 } else { 0 };
        let valid_to = if i % 50 == 0 {
            today_plus(20)
        } else {
            today_plus(200)
        };
        license_rows.push(vec![
            Value::Text(license.to_db()),
            Value::Text(customer.to_db()),
            Value::Int(standard + 2),
            Value::Int(standard),
            Value::Int(server.max(1)),
            Value::Int(server),
            Value::Int(client_limit),
            Value::Text(today_plus(-365)),
            Value::Text(valid_to),
            Value::Int(now),
            Value::Int(now),
        ]);
        for k in 0..count {
            seq += 1;
            let username = format!("gen{seq:06}");
            installation_rows.push(vec![
                Value::Text(InstallationId::new().to_db()),
                Value::Text(license.to_db()),
                Value::Text(username.clone()),
                Value::Text(if k == 0 { "server" } else { "standard" }.into()),
                Value::Text(format!("host-{seq:06}")),
                Value::Text(if k == 0 { "windows-server" } else { "windows" }.into()),
                Value::Text("9.1.0".into()),
                Value::Text(format!("generated-{username}-{}", license.to_db())),
                Value::Int(now - 120 * 86_400_000),
                Value::Int(now),
                Value::Text(customer.to_db()),
                Value::Text(vendor.to_db()),
                Value::Text(name.to_lowercase()),
            ]);
        }
    }
    generate::insert_rows(
        &mut tx,
        "customers",
        &[
            "id",
            "vendor_id",
            "name",
            "language",
            "search_text",
            "created_at",
            "updated_at",
        ],
        &customer_rows,
    )
    .await?;
    generate::insert_rows(
        &mut tx,
        "licenses",
        &[
            "id",
            "customer_id",
            "type",
            "state",
            "standard_seats",
            "standard_used",
            "server_seats",
            "server_used",
            "client_limit_gb",
            "created",
            "valid_to",
            "created_at",
            "updated_at",
        ],
        &license_rows
            .into_iter()
            .map(|mut r| {
                r.insert(2, Value::Text("purchased".into()));
                r.insert(3, Value::Text("active".into()));
                r
            })
            .collect::<Vec<_>>(),
    )
    .await?;
    generate::insert_rows(
        &mut tx,
        "installations",
        &[
            "id",
            "license_id",
            "username",
            "software_type",
            "hostname",
            "os",
            "client_version",
            "token_hash",
            "activated_at",
            "updated_at",
            "customer_id",
            "vendor_id",
            "sort_name",
        ],
        &installation_rows,
    )
    .await?;
    tx.commit().await?;
    if scale.reports == 0 {
        s.store.analyze_after_bulk_load().await?;
    }
    out.push(format!(
        "Generated {vendor_count} vendors, {customers} customers with a license each and {installations} clients in {:.1} s.",
        started.elapsed().as_secs_f64()
    ));

    let reporting = (1..=installations).filter(|n| n % 100 >= 3).count() as u64;
    if reporting > 0 && scale.reports > 0 {
        let days = scale.reports.div_ceil(reporting) as i64;
        let started = Instant::now();
        let mut total = 0u64;
        for day in (0..days).rev() {
            let mut tx = s.store.begin().await?;
            total += generate::reports_for_day(&mut tx, s.store.backend(), now, day).await?;
            tx.commit().await?;
        }
        let mut tx = s.store.begin().await?;
        generate::summarise(&mut tx).await?;
        tx.commit().await?;
        s.store.analyze_after_bulk_load().await?;
        out.push(format!(
            "Generated {total} backup reports ({days} days of history) in {:.1} s.",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(out)
}
