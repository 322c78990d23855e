//! `command-center demo`: fills a data dir with the seed manual's example
//! (Testiasiakas Oy, its 5 + 1 license, its invites) and a few activated
//! clients with backup history, so a newcomer sees a living console.
//! `scale` adds bulk data for scale checks.

pub mod scale;

use crate::domain::{Role, Secret};
use crate::service::clients::{ActivateRequest, ReportInput};
use crate::service::customers::CustomerInput;
use crate::service::invites::NewInvite;
use crate::service::licenses::LicenseInput;
use crate::service::{Actor, Services};

fn ts(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Returns lines to print for the person who ran it.
pub async fn run(s: &Services) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    s.ensure_default_vendor()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut admin_password = None;
    if s.needs_setup().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        let pw = crate::keys::random_token()?.into_inner();
        s.bootstrap_admin("admin@example.com", &Secret::new(pw.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        admin_password = Some(pw);
    }
    let admin_row = {
        let mut c = s.store.read().await?;
        let rows = crate::store::operators::list(&mut c, None).await?;
        rows.into_iter()
            .find(|r| r.role == Role::Admin)
            .ok_or_else(|| anyhow::anyhow!("no administrator"))?
    };
    let actor = Actor {
        operator_id: admin_row.id,
        email: admin_row.email.clone(),
        name: admin_row.name.clone(),
        role: Role::Admin,
        vendor_id: None,
        vendor_name: None,
        ip: None,
        token: None,
    };
    let existing = s
        .list_customers(&actor, None, Some("Testiasiakas"), None, 1)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !existing.items.is_empty() {
        out.push("The demo data is there already (Testiasiakas Oy); nothing added.".into());
        return Ok(out);
    }
    let e = |e: crate::service::ServiceError| anyhow::anyhow!("{e:?}");
    let customer = s
        .create_customer(
            &actor,
            &CustomerInput {
                name: "Testiasiakas Oy".into(),
                vat_id: "1231231231123123".into(),
                street_address: "Katu 13".into(),
                postal_code: "02190".into(),
                postal_area: "Espoo".into(),
                language: "fi".into(),
                // No contact: the demo must not e-mail alerts (with links
                // to a console they cannot open) to a real-looking address.
                contact_email: None,
                ..Default::default()
            },
        )
        .await
        .map_err(e)?;
    let license = s
        .create_license(
            &actor,
            customer.id,
            &LicenseInput {
                standard_seats: Some("5".into()),
                server_seats: Some("1".into()),
                extra_space_gb: Some("0".into()),
                ..Default::default()
            },
        )
        .await
        .map_err(e)?;
    let people = [
        (
            "timo.virtanen@testiasiakas.fi",
            "timo.virtanen@testiasiakas.fi",
            "standard",
            "timo-laptop",
            Some("success"),
        ),
        (
            "t2testi",
            "tommi.tanttu@example.com",
            "standard",
            "tommi-desktop",
            Some("failed"),
        ),
        (
            "palvelin@testiasiakas.fi",
            "palvelin@testiasiakas.fi",
            "server",
            "srv-01",
            Some("success"),
        ),
        ("uusikutsu1", "u1@testiasiakas.fi", "standard", "", None),
        (
            "testclient@test.com",
            "testclient@test.com",
            "standard",
            "",
            None,
        ),
    ];
    let mut real = Vec::new();
    for (username, email, kind, host, report) in people {
        let (_, code) = s
            .create_invite(
                &actor,
                license.id,
                &NewInvite {
                    username: username.into(),
                    email: email.into(),
                    software_type: kind.into(),
                    store_deleted_days: None,
                    replaces_installation_id: None,
                },
            )
            .await
            .map_err(e)?;
        if host.is_empty() {
            continue;
        }
        let a = s
            .activate(
                &ActivateRequest {
                    username: username.into(),
                    activation_code: command_center_wire::Secret::new(code.into_inner()),
                    hostname: host.into(),
                    os: "linux".into(),
                    client_version: "demo".into(),
                },
                None,
            )
            .await
            .map_err(e)?;
        if let (Some(status), Some(n)) = (
            report,
            s.client_by_token(a.token.expose()).await.map_err(e)?,
        ) {
            for day in (1..=5).rev() {
                let st = if day == 1 { status } else { "success" };
                s.client_report(
                    &n,
                    &ReportInput {
                        started_at: ts(-day * 86_400 - 900),
                        finished_at: ts(-day * 86_400),
                        status: st.into(),
                        // Fits the 75 GB license with room to spare (the
                        // healthy clients' real backups are small): the
                        // demo's alert is the failing client, not storage.
                        bytes_total: 12_000_000_000 + day * 100_000_000,
                        bytes_uploaded: 1_500_000_000,
                        files_total: 120_000,
                        files_changed: 800,
                        message: if st == "failed" {
                            "Disk D: not reachable".into()
                        } else {
                            String::new()
                        },
                        simulated: true,
                        ..Default::default()
                    },
                )
                .await
                .map_err(e)?;
            }
            // The healthy clients also back up for real: small generated
            // folders into their repositories, twice (a file changes in
            // between), each run reported with its snapshot.
            if status == "success" {
                let key = a
                    .policy
                    .encryption_key
                    .as_ref()
                    .map(|k| k.expose().to_string())
                    .ok_or_else(|| anyhow::anyhow!("the demo customer has no encryption key"))?;
                let files = s.config.data_dir.join("demo-files").join(host);
                for run in 0..2 {
                    write_files(&files, run)?;
                    let report = real_backup(s, n.id, &key, &files).await?;
                    s.client_report(&n, &report).await.map_err(e)?;
                }
                real.push(files.display().to_string());
            }
        }
    }
    out.push(
        "Added Testiasiakas Oy with a 5 + 1 license, five invites and three activated clients."
            .into(),
    );
    if !real.is_empty() {
        out.push(format!(
            "Backed up {} for real into the clients' repositories (two snapshots each).",
            real.join(" and ")
        ));
    }
    if let Some(pw) = admin_password {
        out.push(format!(
            "Created the administrator admin@example.com with the password {pw} (shown once)."
        ));
    }
    Ok(out)
}

/// A small folder of a customer's kind of files; `run` 1 changes one and
/// adds one.
fn write_files(dir: &std::path::Path, run: u32) -> anyhow::Result<()> {
    let docs = dir.join("Asiakirjat");
    std::fs::create_dir_all(&docs)?;
    std::fs::create_dir_all(dir.join("Kuvat"))?;
    if run == 0 {
        std::fs::write(
            docs.join("Tarjous 2026.txt"),
            "Tarjous: varmuuskopiointipalvelu, 5 työasemaa ja 1 palvelin.\n",
        )?;
        std::fs::write(
            docs.join("muistio.md"),
            "# Muistio\n\n- Varmuuskopiot tarkistettu.\n",
        )?;
        let picture: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(dir.join("Kuvat").join("toimisto.raw"), picture)?;
    } else {
        std::fs::write(
            docs.join("muistio.md"),
            "# Muistio\n\n- Varmuuskopiot tarkistettu.\n- Palautus testattu.\n",
        )?;
        std::fs::write(docs.join("Lasku 1042.txt"), "Lasku 1042: 49,00 € / kk\n")?;
    }
    Ok(())
}

/// One real backup of `files` into the installation's repository (on this
/// machine's disk, the same folder the console serves), and its report.
async fn real_backup(
    s: &Services,
    id: crate::domain::InstallationId,
    key: &str,
    files: &std::path::Path,
) -> anyhow::Result<ReportInput> {
    use command_center_agent::engine::{Engine, Location, SnapshotSettings};
    let folder = s.config.repository_dir.join(id.to_db());
    let paths = vec![files.to_path_buf()];
    let key = key.to_string();
    let started_at = ts(0);
    let outcome = tokio::task::spawn_blocking(move || {
        let engine = Engine::new(Location::Local(folder));
        let mut repo = engine.open_or_init(&key)?;
        repo.backup(&paths, &SnapshotSettings::default())
    })
    .await??;
    // The console counts what its repositories hold.
    s.mark_repository_created(id).await?;
    s.recount_repository(id).await?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Ok(ReportInput {
        started_at,
        finished_at: ts(0),
        status: "success".into(),
        bytes_total: count(outcome.bytes_total),
        bytes_uploaded: count(outcome.bytes_added),
        files_total: count(outcome.files_total),
        files_changed: count(outcome.files_changed),
        files_new: Some(count(outcome.files_new)),
        snapshot_id: Some(outcome.snapshot_id),
        message: String::new(),
        simulated: false,
    })
}
