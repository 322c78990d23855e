//! The console's own backup and restore (`command-center backup` /
//! `restore`, and the daily backup of `serve`, see `service/backup.rs`).
//!
//! An archive is one uncompressed tar file (readable with `tar tf`), its
//! members in this order:
//! - `manifest.json`: format, product version, backend, newest schema
//!   migration, time, counts (customers, licenses, live installations,
//!   invites…), the stored key check, and the size and SHA-256 of every
//!   other member;
//! - `manifest.json.sha256`: the SHA-256 of `manifest.json` (hex), so a
//!   changed manifest is detected too;
//! - `database.sqlite` (a `VACUUM INTO` snapshot) or `database.pgdump`
//!   (`pg_dump --format=custom` of an exported snapshot); absent on
//!   PostgreSQL when `pg_dump` was not found;
//! - `secret.key` (the server key, 64 hex characters) or
//!   `secret.key.sealed` (JSON: the key sealed with a passphrase, argon2id
//!   + XChaCha20-Poly1305).
//!
//! The archive is written under a temporary name in the target folder,
//! fsynced, renamed into place, the folder fsynced; it is mode 0600.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::domain::{Millis, Secret, now_millis, rfc3339};
use crate::keys::{self, ServerKey};
use crate::store::backup::{self as sb, Counts};
use crate::store::{self, Backend, Store};

/// The archive layout's version; a restore refuses other ones.
pub const FORMAT: u32 = 1;
const PRODUCT: &str = "command-center";
const MANIFEST: &str = "manifest.json";
const MANIFEST_SUM: &str = "manifest.json.sha256";
const SQLITE_MEMBER: &str = "database.sqlite";
const PG_MEMBER: &str = "database.pgdump";
const KEY_MEMBER: &str = "secret.key";
const SEALED_KEY_MEMBER: &str = "secret.key.sealed";
/// Members read into memory are at most this big.
const SMALL_MEMBER_MAX: u64 = 1024 * 1024;

/// What an archive says about itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub product: String,
    /// The version of Command Center that wrote it.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest schema migration in the snapshot, and its name.
    pub migration: i64,
    pub migration_name: String,
    pub created_at: String,
    pub created_at_ms: Millis,
    /// Counted inside the snapshot.
    pub counts: Counts,
    /// The database's key check (a known text encrypted with the server
    /// key; no secret): a restore proves the key in the archive opens it.
    pub key_check: String,
    /// Whether the key is sealed with a passphrase.
    pub key_sealed: bool,
    /// False on PostgreSQL when `pg_dump` was not found: then the database
    /// must be dumped by hand.
    pub database_included: bool,
    pub members: Vec<Member>,
}

/// One member of the archive.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// What a backup did.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub path: PathBuf,
    pub bytes: u64,
    pub manifest: Manifest,
    /// Things the person must know (e.g. the dump to make by hand).
    pub notes: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    pub manifest: Manifest,
    /// Counted in the restored database (equal to the manifest's).
    pub counts: Option<Counts>,
    pub notes: Vec<String>,
}

impl Counts {
    /// The counts as lines for people.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("  customers:      {}", self.customers),
            format!("  licenses:       {}", self.licenses),
            format!(
                "  installations:  {} live ({} in all), seats used {}",
                self.installations, self.installations_total, self.seats_used
            ),
            format!(
                "  invites:        {} ({} unused)",
                self.invites, self.unused_invites
            ),
            format!("  backup reports: {}", self.reports),
        ]
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 and size of a file, read once.
fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex(&h.finalize())))
}

/// The file of a `sqlite:` database URL.
pub fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| anyhow::anyhow!("not a SQLite URL"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("an in-memory SQLite database cannot be backed up or restored");
    }
    Ok(PathBuf::from(path))
}

fn backend_of(url: &str) -> anyhow::Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        anyhow::bail!(
            "CC_DATABASE_URL must start with sqlite: or postgres:, got {}",
            store::redact_url(url)
        )
    }
}

fn backend_word(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// A folder removed when dropped (work files of a backup or restore).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new_beside(target: &Path, what: &str) -> anyhow::Result<WorkDir> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "command-center".into());
        let dir = parent.join(format!(".{name}.{what}-{}", uuid::Uuid::new_v4().simple()));
        create_private_dir(&dir)?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))
}

fn create_private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; not every filesystem allows it.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads the passphrase file (its first line; trailing newline ignored).
pub fn read_passphrase_file(path: &Path) -> anyhow::Result<Secret<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the passphrase file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.chars().count() < 8 {
        anyhow::bail!(
            "the passphrase in {} is shorter than 8 characters",
            path.display()
        );
    }
    Ok(Secret::new(line))
}

/// Where `pg_dump`, `pg_restore` live: on the PATH.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A PostgreSQL URL for libpq tools without its password (given in
/// `PGPASSWORD` instead, so it is not on a command line), and the password.
fn libpq_target(url: &str) -> anyhow::Result<(String, Option<Secret<String>>)> {
    let mut u = url::Url::parse(url)
        .map_err(|e| anyhow::anyhow!("bad database URL {}: {e}", store::redact_url(url)))?;
    let password = u.password().map(|p| Secret::new(percent_decode(p)));
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

/// Decodes `%XX` escapes (a URL's user info; `+` stays a plus).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// Runs a libpq tool; its error output becomes the error.
async fn run_pg_tool(
    tool: &Path,
    args: &[String],
    password: Option<&Secret<String>>,
) -> anyhow::Result<()> {
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", tool.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: String = err.trim().chars().take(2000).collect();
        let hint = if err.contains("version mismatch") || err.contains("unsupported version") {
            " (the PostgreSQL client tools must be of the server's major version or newer: \
             install the matching postgresql-client)"
        } else {
            ""
        };
        anyhow::bail!(
            "{} failed ({}): {err}{hint}",
            tool.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            out.status
        );
    }
    Ok(())
}

/// The key as the archive holds it.
fn key_member(
    hex: &Secret<String>,
    passphrase: Option<&Secret<String>>,
) -> anyhow::Result<(&'static str, Vec<u8>)> {
    match passphrase {
        None => Ok((KEY_MEMBER, hex.expose().as_bytes().to_vec())),
        Some(p) => {
            let sealed = keys::seal(p, hex.expose().as_bytes())?;
            Ok((SEALED_KEY_MEMBER, serde_json::to_vec_pretty(&sealed)?))
        }
    }
}

/// Proves a key opens what the database encrypted with its key.
fn check_key(key: &ServerKey, key_check: &str) -> anyhow::Result<()> {
    match key.decrypt(key_check) {
        Ok(t) if t.expose() == crate::KEY_CHECK_TEXT => Ok(()),
        _ => anyhow::bail!(
            "the server key in the archive does not open the secrets of its database \
             (the archive was made with a mismatched key)"
        ),
    }
}

/// Opens the database of `config` for `command-center backup`: never
/// creates one (a mistyped data dir is an error, not an empty backup), runs
/// no migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if backend_of(&config.database_url)? == Backend::Sqlite {
        let file = sqlite_path(&config.database_url)?;
        if !file.is_file() {
            anyhow::bail!(
                "there is no database at {} (check --data-dir / CC_DATABASE_URL)",
                file.display()
            );
        }
    }
    Store::open(&store::StoreOptions {
        url: config.database_url.clone(),
        max_connections: 2,
        sqlite_synchronous: config.sqlite_synchronous.clone(),
    })
    .await
}

/// Writes an archive of the console's database and key to `to`, while the
/// console keeps serving. `store` is the open database of `config`.
pub async fn create(
    store: &Store,
    config: &Config,
    to: &Path,
    passphrase: Option<&Secret<String>>,
) -> anyhow::Result<BackupOutcome> {
    let now = now_millis();
    let hex_key = keys::master_hex(config.secret_key.as_ref(), &config.data_dir)?;
    let key = ServerKey::from_hex(hex_key.expose())?;
    if to.is_dir() {
        anyhow::bail!("{} is a folder; give a file name", to.display());
    }
    let work = WorkDir::new_beside(to, "backup")?;
    let mut notes = Vec::new();
    let (db_member, db_file, counts, migration, key_check, included) = match store.backend() {
        Backend::Sqlite => {
            let snap = work.0.join(SQLITE_MEMBER);
            store
                .sqlite_snapshot(&snap)
                .await
                .map_err(|e| anyhow::anyhow!("the SQLite snapshot (VACUUM INTO) failed: {e}"))?;
            // Everything recorded is read from the snapshot itself.
            let mut c = sb::open_sqlite_read_only(&snap).await?;
            let counts = sb::counts(&mut c).await?;
            let migration = sb::last_migration(&mut c).await?;
            let check = store::settings::get(&mut c, crate::KEY_CHECK_SETTING).await?;
            sb::close(c).await;
            (
                Some(SQLITE_MEMBER),
                Some(snap),
                counts,
                migration,
                check,
                true,
            )
        }
        Backend::Postgres => {
            let mut snap = store.pg_snapshot().await?;
            let counts = sb::counts(&mut snap.tx).await?;
            let migration = sb::last_migration(&mut snap.tx).await?;
            let check = store::settings::get(&mut snap.tx, crate::KEY_CHECK_SETTING).await?;
            let dump = work.0.join(PG_MEMBER);
            let (target, password) = libpq_target(&config.database_url)?;
            let result = match find_tool("pg_dump") {
                Some(tool) => {
                    let args = vec![
                        "--format=custom".to_string(),
                        format!("--snapshot={}", snap.id),
                        format!("--file={}", dump.display()),
                        format!("--dbname={target}"),
                    ];
                    run_pg_tool(&tool, &args, password.as_ref())
                        .await
                        .map(|()| true)
                }
                None => {
                    notes.push(format!(
                        "pg_dump was not found on the PATH: the archive holds the key and the \
                         manifest, not the database. Dump it yourself, now and next to this \
                         archive:\n  pg_dump --format=custom --file={}.pgdump '{}'",
                        to.display(),
                        store::redact_url(&config.database_url)
                    ));
                    Ok(false)
                }
            };
            let _ = snap.finish().await;
            let included = result?;
            (
                included.then_some(PG_MEMBER),
                included.then_some(dump),
                counts,
                migration,
                check,
                included,
            )
        }
    };
    let (migration, migration_name) =
        migration.ok_or_else(|| anyhow::anyhow!("the database has no migrations applied"))?;
    let key_check = key_check.ok_or_else(|| {
        anyhow::anyhow!("the database has no key check; start the console once before backing up")
    })?;
    check_key(&key, &key_check)
        .map_err(|_| anyhow::anyhow!("the server key does not open this database's secrets"))?;
    let (key_name, key_bytes) = key_member(&hex_key, passphrase)?;
    let mut members = Vec::new();
    if let (Some(name), Some(file)) = (db_member, &db_file) {
        let (size, sha256) = hash_file(file)?;
        members.push(Member {
            name: name.into(),
            size,
            sha256,
        });
    }
    members.push(Member {
        name: key_name.into(),
        size: key_bytes.len() as u64,
        sha256: sha256_hex(&key_bytes),
    });
    let manifest = Manifest {
        format: FORMAT,
        product: PRODUCT.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        backend: backend_word(store.backend()).into(),
        migration,
        migration_name,
        created_at: rfc3339(now),
        created_at_ms: now,
        counts,
        key_check,
        key_sealed: passphrase.is_some(),
        database_included: included,
        members,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let manifest_sum = sha256_hex(&manifest_bytes);
    let tmp = work.0.join("archive.tar");
    let to_owned = to.to_path_buf();
    let bytes = tokio::task::spawn_blocking({
        let tmp = tmp.clone();
        let db_member = db_member.map(str::to_string);
        move || -> anyhow::Result<u64> {
            let f = create_private_file(&tmp)?;
            let mut t = tar::Builder::new(std::io::BufWriter::new(f));
            let mut add = |name: &str, size: u64, r: &mut dyn Read| -> anyhow::Result<()> {
                let mut h = tar::Header::new_gnu();
                h.set_size(size);
                h.set_mode(0o600);
                h.set_mtime((now / 1000).max(0) as u64);
                h.set_entry_type(tar::EntryType::Regular);
                t.append_data(&mut h, name, r)?;
                Ok(())
            };
            add(
                MANIFEST,
                manifest_bytes.len() as u64,
                &mut manifest_bytes.as_slice(),
            )?;
            let sum = format!("{manifest_sum}  {MANIFEST}\n");
            add(MANIFEST_SUM, sum.len() as u64, &mut sum.as_bytes())?;
            if let (Some(name), Some(file)) = (db_member, db_file) {
                let mut f = std::fs::File::open(&file)?;
                let size = f.metadata()?.len();
                add(&name, size, &mut f)?;
            }
            add(key_name, key_bytes.len() as u64, &mut key_bytes.as_slice())?;
            let w = t.into_inner()?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            let bytes = f.metadata()?.len();
            drop(f);
            std::fs::rename(&tmp, &to_owned).map_err(|e| {
                anyhow::anyhow!("cannot move the archive to {}: {e}", to_owned.display())
            })?;
            if let Some(p) = to_owned.parent() {
                sync_dir(if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                });
            }
            Ok(bytes)
        }
    })
    .await??;
    Ok(BackupOutcome {
        path: to.to_path_buf(),
        bytes,
        manifest,
        notes,
    })
}

/// The members of an archive after reading it: small ones in memory, the
/// database in a work file.
struct ArchiveMembers {
    manifest: Vec<u8>,
    manifest_sum: Vec<u8>,
    key: Option<(String, Vec<u8>)>,
    database: Option<(String, PathBuf, u64, String)>,
}

fn read_small(e: &mut dyn Read, name: &str, size: u64) -> anyhow::Result<Vec<u8>> {
    if size > SMALL_MEMBER_MAX {
        anyhow::bail!("the archive member {name} is too large ({size} bytes)");
    }
    let mut v = Vec::with_capacity(size as usize);
    e.take(SMALL_MEMBER_MAX + 1).read_to_end(&mut v)?;
    Ok(v)
}

/// Reads a tar archive: only the known members, never a path from the
/// archive used as a path on disk.
fn read_archive(from: &Path, work: &Path) -> anyhow::Result<ArchiveMembers> {
    let f = std::fs::File::open(from)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", from.display()))?;
    let mut a = tar::Archive::new(std::io::BufReader::new(f));
    let mut out = ArchiveMembers {
        manifest: Vec::new(),
        manifest_sum: Vec::new(),
        key: None,
        database: None,
    };
    let not_an_archive = |e: std::io::Error| {
        anyhow::anyhow!("{} is not a readable console backup: {e}", from.display())
    };
    for entry in a.entries().map_err(not_an_archive)? {
        let mut e = entry.map_err(not_an_archive)?;
        let name = e
            .path()
            .map_err(not_an_archive)?
            .to_string_lossy()
            .to_string();
        let size = e.header().size().map_err(not_an_archive)?;
        match name.as_str() {
            MANIFEST => out.manifest = read_small(&mut e, &name, size)?,
            MANIFEST_SUM => out.manifest_sum = read_small(&mut e, &name, size)?,
            KEY_MEMBER | SEALED_KEY_MEMBER => {
                out.key = Some((name.clone(), read_small(&mut e, &name, size)?))
            }
            SQLITE_MEMBER | PG_MEMBER => {
                let path = work.join(&name);
                let mut f = create_private_file(&path)?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut n = 0u64;
                loop {
                    let k = e.read(&mut buf).map_err(not_an_archive)?;
                    if k == 0 {
                        break;
                    }
                    h.update(&buf[..k]);
                    f.write_all(&buf[..k])?;
                    n += k as u64;
                }
                f.sync_all()?;
                out.database = Some((name.clone(), path, n, hex(&h.finalize())));
            }
            other => anyhow::bail!(
                "{} holds an unknown member {other:?}: not a console backup",
                from.display()
            ),
        }
    }
    Ok(out)
}

/// Checks the manifest and every member's checksum; returns the manifest
/// and the key member's bytes.
fn verify(from: &Path, r: &ArchiveMembers) -> anyhow::Result<(Manifest, (String, Vec<u8>))> {
    let corrupt = |what: &str| {
        anyhow::anyhow!(
            "{} is damaged: {what}. Nothing was restored; use another copy of the backup.",
            from.display()
        )
    };
    if r.manifest.is_empty() || r.manifest_sum.is_empty() {
        return Err(corrupt("it has no manifest (not a console backup?)"));
    }
    let said = String::from_utf8_lossy(&r.manifest_sum);
    let said = said.split_whitespace().next().unwrap_or("");
    if said != sha256_hex(&r.manifest) {
        return Err(corrupt("the manifest's checksum does not match"));
    }
    let m: Manifest = serde_json::from_slice(&r.manifest)
        .map_err(|e| corrupt(&format!("the manifest cannot be read ({e})")))?;
    if m.product != PRODUCT {
        anyhow::bail!("{} is not a Command Center backup", from.display());
    }
    if m.format != FORMAT {
        anyhow::bail!(
            "{} has archive format {}; this Command Center reads format {FORMAT}",
            from.display(),
            m.format
        );
    }
    let key = r
        .key
        .clone()
        .ok_or_else(|| corrupt("the server key is missing"))?;
    let mut expected: Vec<&Member> = m.members.iter().collect();
    let check = |name: &str, size: u64, sha: &str, expected: &mut Vec<&Member>| match expected
        .iter()
        .position(|x| x.name == name)
    {
        Some(i) => {
            let x = expected.remove(i);
            if x.size != size || x.sha256 != sha {
                return Err(corrupt(&format!("{name} does not match its checksum")));
            }
            Ok(())
        }
        None => Err(corrupt(&format!("{name} is not in the manifest"))),
    };
    check(
        &key.0,
        key.1.len() as u64,
        &sha256_hex(&key.1),
        &mut expected,
    )?;
    if let Some((name, _, size, sha)) = &r.database {
        check(name, *size, sha, &mut expected)?;
    }
    if let Some(missing) = expected.first() {
        return Err(corrupt(&format!("{} is missing", missing.name)));
    }
    Ok((m, key))
}

/// The first entry of a folder, if it has any.
fn first_entry(dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_dir(dir) {
        Ok(mut it) => match it.next() {
            Some(e) => Ok(Some(e?.file_name().to_string_lossy().to_string())),
            None => Ok(None),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", dir.display())),
    }
}

/// Restores an archive into the empty data dir / empty database of
/// `config`. Refuses (changing nothing) a non-empty target, a damaged
/// archive, a key that does not open the secrets, a wrong passphrase.
pub async fn restore(
    config: &Config,
    from: &Path,
    passphrase: Option<&Secret<String>>,
) -> anyhow::Result<RestoreOutcome> {
    let backend = backend_of(&config.database_url)?;
    // 1. The target must be empty: checked before anything is read.
    let sqlite_file = match backend {
        Backend::Sqlite => Some(sqlite_path(&config.database_url)?),
        Backend::Postgres => None,
    };
    if let Some(entry) = first_entry(&config.data_dir)? {
        anyhow::bail!(
            "the data dir {} is not empty (it holds {entry:?}): a restore goes only into an \
             empty or new data dir. Nothing was changed; move the old one aside first.",
            config.data_dir.display()
        );
    }
    if let Some(db) = &sqlite_file
        && db.exists()
    {
        anyhow::bail!(
            "the database {} exists: a restore never overwrites one. Nothing was changed.",
            db.display()
        );
    }
    if backend == Backend::Postgres {
        let mut c = sb::connect(&config.database_url).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to {} (create the empty database first): {e}",
                store::redact_url(&config.database_url)
            )
        })?;
        let first = sb::first_table(&mut c).await;
        sb::close(c).await;
        if let Some(t) = first? {
            anyhow::bail!(
                "the database {} is not empty (it has the table {t:?}): a restore goes only \
                 into an empty database. Nothing was changed; create a new one \
                 (createdb) and point CC_DATABASE_URL at it.",
                store::redact_url(&config.database_url)
            );
        }
    }
    // 2. Read and check the archive in a work folder beside the target.
    let work = WorkDir::new_beside(&config.data_dir, "restore")?;
    let read = {
        let (from, work) = (from.to_path_buf(), work.0.clone());
        tokio::task::spawn_blocking(move || read_archive(&from, &work)).await??
    };
    let (manifest, (key_name, key_bytes)) = verify(from, &read)?;
    if manifest.backend != backend_word(backend) {
        anyhow::bail!(
            "this archive is of a {} console; CC_DATABASE_URL points to {}. Restore it onto \
             the same kind of database.",
            manifest.backend,
            backend.name()
        );
    }
    let newest = sb::newest_known_migration();
    if manifest.migration > newest {
        anyhow::bail!(
            "this archive was made by a newer Command Center ({}, schema {}); this one knows \
             schema {newest}. Restore it with that version or newer.",
            manifest.version,
            manifest.migration
        );
    }
    // 3. The key: opened (passphrase) and proven to open the secrets.
    let hex_key: Secret<String> = if key_name == SEALED_KEY_MEMBER {
        let p = passphrase.ok_or_else(|| {
            anyhow::anyhow!(
                "the server key in this archive is sealed with a passphrase: give it with \
                 --passphrase-file. Nothing was changed."
            )
        })?;
        let sealed: keys::Sealed = serde_json::from_slice(&key_bytes)
            .map_err(|e| anyhow::anyhow!("the sealed key cannot be read: {e}"))?;
        let plain = keys::open_sealed(p, &sealed)
            .map_err(|e| anyhow::anyhow!("{e}. Nothing was changed."))?;
        Secret::new(
            String::from_utf8(plain.expose().clone())
                .map_err(|_| anyhow::anyhow!("the sealed key is not text"))?,
        )
    } else {
        Secret::new(String::from_utf8_lossy(&key_bytes).trim().to_string())
    };
    let key = ServerKey::from_hex(hex_key.expose())
        .map_err(|e| anyhow::anyhow!("the server key in the archive is not valid: {e}"))?;
    check_key(&key, &manifest.key_check)?;
    if let Some(configured) = &config.secret_key
        && !configured
            .expose()
            .trim()
            .eq_ignore_ascii_case(hex_key.expose())
    {
        anyhow::bail!(
            "CC_SECRET_KEY is set to another key than the archive's. Unset it (the key is \
             restored into the data dir) or set it to the archive's key. Nothing was changed."
        );
    }
    let mut notes = Vec::new();
    if passphrase.is_some() && key_name != SEALED_KEY_MEMBER {
        notes.push("the archive's key was not sealed; the passphrase was not needed".into());
    }
    // 4. The database, checked before it is put in place.
    let counts = match (backend, &read.database) {
        (Backend::Sqlite, Some((_, staged, _, _))) => {
            let mut c = sb::open_sqlite_read_only(staged).await?;
            let integrity = sb::sqlite_integrity(&mut c).await;
            let check = store::settings::get(&mut c, crate::KEY_CHECK_SETTING).await;
            let counts = sb::counts(&mut c).await;
            sb::close(c).await;
            let integrity = integrity?;
            if integrity != "ok" {
                anyhow::bail!(
                    "the database in the archive is damaged ({integrity}). Nothing was changed."
                );
            }
            if check?.as_deref() != Some(manifest.key_check.as_str()) {
                anyhow::bail!(
                    "the database in the archive does not match its manifest (key check). Nothing was changed."
                );
            }
            let counts = counts?;
            if counts != manifest.counts {
                anyhow::bail!(
                    "the database in the archive does not match its manifest's counts. Nothing was changed."
                );
            }
            let db = sqlite_file
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no SQLite path"))?;
            create_private_dir(&config.data_dir)?;
            if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
                create_private_dir(parent)?;
            }
            move_into_place(staged, &db)?;
            Some(counts)
        }
        (Backend::Postgres, Some((_, staged, _, _))) => {
            let tool = find_tool("pg_restore").ok_or_else(|| {
                anyhow::anyhow!(
                    "pg_restore was not found on the PATH (install postgresql-client). Nothing was changed."
                )
            })?;
            let (target, password) = libpq_target(&config.database_url)?;
            let args = vec![
                "--exit-on-error".to_string(),
                "--single-transaction".to_string(),
                "--no-owner".to_string(),
                "--no-privileges".to_string(),
                format!("--dbname={target}"),
                staged.display().to_string(),
            ];
            run_pg_tool(&tool, &args, password.as_ref())
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e}. The restore ran in one transaction: the database is unchanged."
                    )
                })?;
            let mut c = sb::connect(&config.database_url).await?;
            let check = store::settings::get(&mut c, crate::KEY_CHECK_SETTING).await;
            let counts = sb::counts(&mut c).await;
            sb::close(c).await;
            if check?.as_deref() != Some(manifest.key_check.as_str()) {
                anyhow::bail!(
                    "the restored database does not match the manifest (key check); drop it and try another copy"
                );
            }
            let counts = counts?;
            if counts != manifest.counts {
                anyhow::bail!(
                    "the restored database does not match the manifest's counts; drop it and try another copy"
                );
            }
            create_private_dir(&config.data_dir)?;
            Some(counts)
        }
        (_, None) => {
            notes.push(
                "the archive holds no database (pg_dump was not found when it was made): \
                 restore the dump made by hand with pg_restore into the empty database"
                    .into(),
            );
            create_private_dir(&config.data_dir)?;
            None
        }
    };
    // 5. The key, last: a console with a database and no key cannot start.
    if config.secret_key.is_none() {
        keys::write_key_file(&config.data_dir, &hex_key)?;
        sync_dir(&config.data_dir);
    }
    Ok(RestoreOutcome {
        manifest,
        counts,
        notes,
    })
}

/// Renames a checked file into place (copies when across filesystems),
/// durably.
fn move_into_place(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        let mut src = std::fs::File::open(from)?;
        let mut dst = create_private_file(to)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
    }
    if let Some(p) = to.parent() {
        sync_dir(if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        });
    }
    Ok(())
}

/// The archive name of the daily backup made at `at`.
pub fn scheduled_name(at: Millis) -> String {
    let t = rfc3339(at);
    // 2026-12-01T03:04:05Z → 20261201-030405
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
    let (d, h) = digits.split_at(digits.len().min(8));
    format!("command-center-{d}-{h}.tar")
}

/// Whether a file name is one of the daily backups (for pruning).
pub fn is_scheduled_name(name: &str) -> bool {
    name.starts_with("command-center-") && name.ends_with(".tar") && !name.starts_with('.')
}

/// Keeps the newest `keep` daily archives in `dir`, removes older ones;
/// returns the names removed. Other files are left alone.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| is_scheduled_name(n))
        .collect();
    // The names sort by time.
    names.sort();
    let remove = names.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for n in names.into_iter().take(remove) {
        std::fs::remove_file(dir.join(&n))
            .map_err(|e| anyhow::anyhow!("cannot remove the old backup {n}: {e}"))?;
        removed.push(n);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_and_names() {
        assert_eq!(
            sqlite_path("sqlite:///a/b.db?mode=rwc").unwrap(),
            PathBuf::from("/a/b.db")
        );
        assert_eq!(sqlite_path("sqlite:x.db").unwrap(), PathBuf::from("x.db"));
        assert!(sqlite_path("sqlite::memory:").is_err());
        let n = scheduled_name(1_764_558_245_000);
        assert!(is_scheduled_name(&n), "{n}");
        assert_eq!(n, "command-center-20251201-030405.tar");
    }

    #[test]
    fn libpq_target_moves_the_password_out() {
        let (u, p) = libpq_target("postgres://cc:s%40cr+et@db:5432/cc").unwrap();
        assert_eq!(u, "postgres://cc@db:5432/cc");
        assert_eq!(p.unwrap().expose(), "s@cr+et");
        let (_, p) = libpq_target("postgres://cc@db/cc").unwrap();
        assert!(p.is_none());
    }
}
