//! The backup engine: `rustic_core` reading and writing a restic-format
//! repository, so stock `restic` can always open what the agent wrote.
//!
//! One entry point takes any repository location ([`Location`]): the
//! console's REST URL in production, a local folder in tests. Everything
//! here is blocking (rustic's REST backend uses a blocking HTTP client):
//! call it from `spawn_blocking`, never on an async worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustic_backend::LocalBackend;
use rustic_backend::RestBackend;
use rustic_core::jiff::{Span, Zoned};
use rustic_core::{
    BackupOptions, ConfigOptions, Credentials, KeepOptions, KeyOptions, LocalDestination,
    LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions, LsOptions, OpenStatus, PathList,
    Progress, ProgressBars, ProgressType, PruneOptions, ReadSource, ReadSourceEntry,
    ReadSourceOpen, Repository, RepositoryBackends, RepositoryOptions, RestoreOptions, RusticError,
    RusticProgress, RusticResult, SnapshotOptions, WriteBackend, repofile::SnapshotFile,
};

/// Where a repository lives. `Debug` never shows credentials.
#[derive(Clone)]
pub enum Location {
    /// A folder on this machine (tests, or a local target).
    Local(PathBuf),
    /// restic's REST protocol; the URL may carry HTTP Basic credentials.
    Rest(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "Local({})", p.display()),
            Location::Rest(_) => f.write_str("Rest(***)"),
        }
    }
}

impl Location {
    /// `rest:http…` is the REST backend, anything else a local folder.
    pub fn parse(s: &str) -> Location {
        match s.strip_prefix("rest:") {
            Some(url) => Location::Rest(url.to_string()),
            None => Location::Local(PathBuf::from(s)),
        }
    }

    /// The policy's `repository_url` (`rest:http://host/repo/<id>/`, no
    /// secret in it) with HTTP Basic credentials added: the installation id
    /// as user, the client token as password. The result holds the token:
    /// never print it.
    pub fn rest_with_credentials(
        repository_url: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<Location> {
        let raw = repository_url.strip_prefix("rest:").ok_or_else(|| {
            anyhow::anyhow!("the policy's repository_url is not a rest: URL: {repository_url}")
        })?;
        let mut url = reqwest::Url::parse(raw)
            .map_err(|e| anyhow::anyhow!("the policy's repository_url is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("the policy's repository_url must be http or https: {repository_url}");
        }
        url.set_username(user)
            .and_then(|()| url.set_password(Some(password)))
            .map_err(|()| anyhow::anyhow!("cannot put credentials in {repository_url}"))?;
        Ok(Location::Rest(url.to_string()))
    }
}

/// Counts what a backup saw, for the report and the progress line.
#[derive(Debug, Default)]
struct Counters {
    /// Files handed to the archiver.
    files: AtomicU64,
    /// Entries that could not be read (the snapshot goes on without them).
    problems: Mutex<Vec<String>>,
}

impl Counters {
    fn problem(&self, what: String) {
        if let Ok(mut p) = self.problems.lock() {
            p.push(what);
        }
    }
    fn reset(&self) {
        self.files.store(0, Ordering::Relaxed);
        if let Ok(mut p) = self.problems.lock() {
            p.clear();
        }
    }
    fn take_problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

/// Turns rustic's (long, multi-line) error into one line.
#[allow(clippy::boxed_local)] // rustic hands errors over boxed
fn rerr(e: Box<RusticError>) -> anyhow::Error {
    anyhow::anyhow!(e.display_log())
}

/// Opens repositories at one location.
pub struct Engine {
    location: Location,
    cache_dir: Option<PathBuf>,
    progress: bool,
    counters: Arc<Counters>,
}

impl Engine {
    /// No cache and no progress until asked for.
    pub fn new(location: Location) -> Engine {
        Engine {
            location,
            cache_dir: None,
            progress: false,
            counters: Arc::default(),
        }
    }

    /// Keep rustic's cache of index and tree files here (saves downloading
    /// them again on every run against a REST server).
    pub fn cache_dir(mut self, dir: PathBuf) -> Engine {
        self.cache_dir = Some(dir);
        self
    }

    /// Draw progress (files, bytes, rate) on stderr.
    pub fn progress(mut self, on: bool) -> Engine {
        self.progress = on;
        self
    }

    fn repository(&self) -> anyhow::Result<Repository<()>> {
        let be: Arc<dyn WriteBackend> = match &self.location {
            Location::Local(path) => {
                let path = path
                    .to_str()
                    .ok_or_else(|| anyhow::anyhow!("repository path is not UTF-8"))?;
                Arc::new(LocalBackend::new(path, []).map_err(rerr)?)
            }
            Location::Rest(url) => Arc::new(RestBackend::new(url, []).map_err(rerr)?),
        };
        let backends = RepositoryBackends::new(be, None);
        let opts = match &self.cache_dir {
            Some(dir) => RepositoryOptions::default().cache_dir(dir.clone()),
            None => RepositoryOptions::default().no_cache(true),
        };
        let bars = Bars {
            show: self.progress,
            counters: self.counters.clone(),
        };
        Repository::new_with_progress(&opts, &backends, bars).map_err(rerr)
    }

    /// Whether a repository has been initialised here.
    pub fn exists(&self) -> anyhow::Result<bool> {
        Ok(self.repository()?.config_id().map_err(rerr)?.is_some())
    }

    /// Creates the repository with this password as its first key.
    pub fn init(&self, password: &str) -> anyhow::Result<Repo> {
        let repo = self
            .repository()?
            .init(
                &Credentials::password(password),
                &KeyOptions::default(),
                &ConfigOptions::default(),
            )
            .map_err(rerr)?;
        Ok(self.repo(repo))
    }

    /// Opens with this password (any of the repository's keys).
    pub fn open(&self, password: &str) -> anyhow::Result<Repo> {
        let repo = self
            .repository()?
            .open(&Credentials::password(password))
            .map_err(|e| {
                if e.is_incorrect_password() {
                    anyhow::anyhow!("the repository does not open with this key")
                } else {
                    rerr(e)
                }
            })?;
        Ok(self.repo(repo))
    }

    /// Opens, or initialises on first use.
    pub fn open_or_init(&self, password: &str) -> anyhow::Result<Repo> {
        if self.exists()? {
            self.open(password)
        } else {
            self.init(password)
        }
    }

    /// Replaces the key `old` by `new`: opens with the old key, adds the new
    /// one, checks the new one opens the repository, and only then removes
    /// the old key — at every step some key the agent knows opens it.
    pub fn change_key(&self, old: &str, new: &str) -> anyhow::Result<()> {
        let with_old = self.open(old)?;
        let old_id = *with_old
            .open_repo()?
            .key_id()
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("opened without a key file"))?;
        with_old
            .open_repo()?
            .add_key(new, &KeyOptions::default())
            .map_err(rerr)?;
        let with_new = self.open(new)?;
        let with_new = with_new.open_repo()?;
        if with_new.key_id().as_ref() == Some(&old_id) {
            anyhow::bail!("the new key opened the repository through the old key file");
        }
        with_new.delete_key(&old_id).map_err(rerr)?;
        Ok(())
    }

    /// Opens with the key the policy names (`wanted`), initialising the
    /// repository on first use. When the agent last used another key
    /// (`stored`), the repository moves to the new key first
    /// ([`Engine::change_key`]); if that was already done by a run that
    /// could not record it, the new key simply opens it. Returns the key
    /// to remember — also when opening failed, so a finished change is
    /// never forgotten.
    pub fn open_with_key(
        &self,
        stored: Option<&str>,
        wanted: &str,
    ) -> (Option<String>, anyhow::Result<Repo>) {
        let keep_old = stored.map(str::to_string);
        match self.exists() {
            Err(e) => return (keep_old, Err(e)),
            Ok(false) => {
                return match self.init(wanted) {
                    Ok(repo) => (Some(wanted.to_string()), Ok(repo)),
                    Err(e) => (keep_old, Err(e)),
                };
            }
            Ok(true) => {}
        }
        if let Some(old) = stored.filter(|old| *old != wanted)
            && let Err(change) = self.change_key(old, wanted)
        {
            return match self.open(wanted) {
                Ok(repo) => (Some(wanted.to_string()), Ok(repo)),
                Err(_) => (
                    keep_old,
                    Err(change.context("moving the repository to the new encryption key")),
                ),
            };
        }
        match self.open(wanted) {
            Ok(repo) => (Some(wanted.to_string()), Ok(repo)),
            Err(e) => (
                keep_old,
                Err(e.context("opening the repository with the policy's encryption key")),
            ),
        }
    }

    fn repo(&self, repo: Repository<OpenStatus>) -> Repo {
        Repo {
            repo: Some(repo),
            counters: self.counters.clone(),
        }
    }
}

/// What one backup did.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub snapshot_id: String,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_total: u64,
    /// Bytes of all files read (the size of what is protected).
    pub bytes_total: u64,
    /// Bytes added to the repository after deduplication and compression
    /// (what went over the wire).
    pub bytes_added: u64,
    /// Entries that could not be read; the snapshot has everything else.
    pub unreadable: Vec<String>,
}

/// A snapshot as the agent lists it.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub id: String,
    pub time: Zoned,
    pub paths: Vec<String>,
    pub hostname: String,
    pub files: u64,
    pub bytes_added: u64,
}

/// Options for one snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotSettings {
    /// Defaults to this machine's name.
    pub host: Option<String>,
    /// Defaults to now (tests set it in the past).
    pub time: Option<Zoned>,
}

/// An open repository.
pub struct Repo {
    /// Taken while indexed (backup, restore), put back after.
    repo: Option<Repository<OpenStatus>>,
    counters: Arc<Counters>,
}

impl Repo {
    fn open_repo(&self) -> anyhow::Result<&Repository<OpenStatus>> {
        self.repo
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the repository was lost by an earlier error"))
    }

    fn take(&mut self) -> anyhow::Result<Repository<OpenStatus>> {
        self.repo
            .take()
            .ok_or_else(|| anyhow::anyhow!("the repository was lost by an earlier error"))
    }

    /// Snapshots `paths` (files or folders; symlinks stored as links).
    pub fn backup(
        &mut self,
        paths: &[PathBuf],
        settings: &SnapshotSettings,
    ) -> anyhow::Result<BackupOutcome> {
        if paths.is_empty() {
            anyhow::bail!("nothing to back up: give one or more paths");
        }
        let mut absolute = Vec::with_capacity(paths.len());
        for p in paths {
            if std::fs::symlink_metadata(p).is_err() {
                anyhow::bail!("{} does not exist", p.display());
            }
            absolute.push(std::path::absolute(p)?);
        }
        let list: PathList = absolute.into_iter().collect();
        let backup_paths = list
            .sanitize()
            .map_err(|e| anyhow::anyhow!("bad backup path: {e}"))?
            .paths();

        let mut snap_opts = SnapshotOptions::default();
        if let Some(host) = &settings.host {
            snap_opts = snap_opts.host(host.clone());
        }
        if let Some(time) = &settings.time {
            snap_opts = snap_opts.time(time.clone());
        }
        let snap = snap_opts.to_snapshot().map_err(rerr)?;

        self.counters.reset();
        let opts = BackupOptions::default();
        let source = LocalSource::new(
            LocalSourceSaveOptions::default(),
            &opts.excludes,
            &LocalSourceFilterOptions::default(),
            &backup_paths,
        )
        .map_err(rerr)?;
        let source = Counted {
            inner: source,
            counters: self.counters.clone(),
        };
        let indexed = self.take()?.to_indexed_ids().map_err(rerr)?;
        let snap = indexed.archive(&opts, &source, snap, &backup_paths);
        self.repo = Some(indexed.drop_index());
        let snap = snap.map_err(rerr)?;
        let s = snap.summary.clone().unwrap_or_default();
        Ok(BackupOutcome {
            snapshot_id: snap.id.to_hex().as_str().to_string(),
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_total: s.total_files_processed,
            bytes_total: s.total_bytes_processed,
            bytes_added: s.data_added_packed,
            unreadable: self.counters.take_problems(),
        })
    }

    /// All snapshots, oldest first.
    pub fn snapshots(&self) -> anyhow::Result<Vec<SnapshotInfo>> {
        let mut snaps = self.open_repo()?.get_all_snapshots().map_err(rerr)?;
        snaps.sort_unstable();
        Ok(snaps.iter().map(info).collect())
    }

    /// restic's `forget --keep-within <days>d --prune` over all snapshots
    /// of the repository, also always keeping the newest one. Returns the
    /// ids forgotten.
    pub fn forget_outside(&self, days: i64) -> anyhow::Result<Vec<String>> {
        let mut keep = KeepOptions::default().keep_last(Some(1));
        if days > 0 {
            keep = keep.keep_within(Some(Span::new().try_days(days).map_err(|e| {
                anyhow::anyhow!("store_deleted_days {days} is out of range: {e}")
            })?));
        }
        let repo = self.open_repo()?;
        let snaps = repo.get_all_snapshots().map_err(rerr)?;
        let now = Zoned::now();
        let decided = keep.apply(snaps, &now).map_err(rerr)?;
        // Oldest first, as `snapshots` lists them.
        let forget: Vec<_> = decided
            .iter()
            .rev()
            .filter(|s| !s.keep)
            .map(|s| s.snapshot.id)
            .collect();
        if forget.is_empty() {
            return Ok(Vec::new());
        }
        repo.delete_snapshots(&forget).map_err(rerr)?;
        let prune = PruneOptions::default();
        let plan = repo.prune_plan(&prune).map_err(rerr)?;
        repo.prune(&prune, plan).map_err(rerr)?;
        Ok(forget
            .iter()
            .map(|id| id.to_hex().as_str().to_string())
            .collect())
    }

    /// Restores snapshot `id` (an id, a unique prefix of one, or `latest`)
    /// into `target`, optionally only `only` (paths as they were backed
    /// up; their parent folders come along). Files land at their full
    /// original path under `target`, as with `restic restore`.
    pub fn restore(&mut self, id: &str, target: &Path, only: &[PathBuf]) -> anyhow::Result<u64> {
        let indexed = self.take()?.to_indexed().map_err(rerr)?;
        let restored = restore_indexed(&indexed, id, target, only);
        self.repo = Some(indexed.drop_index());
        restored
    }
}

fn restore_indexed<S: rustic_core::IndexedFull>(
    indexed: &Repository<S>,
    id: &str,
    target: &Path,
    only: &[PathBuf],
) -> anyhow::Result<u64> {
    let snap = indexed.get_snapshot_from_str(id, |_| true).map_err(rerr)?;
    let root = indexed
        .node_from_snapshot_and_path(&snap, "")
        .map_err(rerr)?;
    let wanted: Vec<PathBuf> = only
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .collect()
        })
        .collect();
    let keep = move |item: &RusticResult<(PathBuf, rustic_core::repofile::Node)>| match item {
        Err(_) => true,
        Ok((path, _)) => {
            wanted.is_empty()
                || wanted
                    .iter()
                    .any(|w| path.starts_with(w) || w.starts_with(path))
        }
    };
    std::fs::create_dir_all(target)?;
    let target = target
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("target path is not UTF-8"))?;
    let dest = LocalDestination::new(&format!("{target}/"), true, false).map_err(rerr)?;
    let opts = RestoreOptions::default();
    let ls = indexed
        .ls(&root, &LsOptions::default())
        .map_err(rerr)?
        .filter(keep.clone());
    let plan = indexed
        .prepare_restore(&opts, ls, &dest, false)
        .map_err(rerr)?;
    let files = plan.stats.files.restore;
    let ls = indexed
        .ls(&root, &LsOptions::default())
        .map_err(rerr)?
        .filter(keep);
    indexed.restore(plan, &opts, ls, &dest).map_err(rerr)?;
    Ok(files)
}

fn info(s: &SnapshotFile) -> SnapshotInfo {
    let summary = s.summary.clone().unwrap_or_default();
    SnapshotInfo {
        id: s.id.to_hex().as_str().to_string(),
        time: s.time.clone(),
        paths: s.paths.iter().cloned().collect(),
        hostname: s.hostname.clone(),
        files: summary.total_files_processed,
        bytes_added: summary.data_added_packed,
    }
}

/// A source that counts files and remembers what could not be read
/// (rustic skips those with a log line; the report calls that a warning).
struct Counted<R> {
    inner: R,
    counters: Arc<Counters>,
}

struct CountedIter<I> {
    inner: I,
    counters: Arc<Counters>,
}

struct CountedOpen<O> {
    inner: O,
    path: PathBuf,
    counters: Arc<Counters>,
}

impl<R: ReadSource> ReadSource for Counted<R> {
    type Open = CountedOpen<R::Open>;
    type Iter = CountedIter<R::Iter>;

    fn size(&self) -> RusticResult<Option<u64>> {
        self.inner.size()
    }

    fn entries(&self) -> Self::Iter {
        CountedIter {
            inner: self.inner.entries(),
            counters: self.counters.clone(),
        }
    }
}

impl<I, O> Iterator for CountedIter<I>
where
    I: Iterator<Item = RusticResult<ReadSourceEntry<O>>>,
{
    type Item = RusticResult<ReadSourceEntry<CountedOpen<O>>>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.inner.next()? {
            Err(e) => {
                self.counters.problem(e.display_log());
                Err(e)
            }
            Ok(ReadSourceEntry { path, node, open }) => {
                if node.is_file() {
                    self.counters.files.fetch_add(1, Ordering::Relaxed);
                }
                let open = open.map(|inner| CountedOpen {
                    inner,
                    path: path.clone(),
                    counters: self.counters.clone(),
                });
                Ok(ReadSourceEntry { path, node, open })
            }
        })
    }
}

impl<O: ReadSourceOpen> ReadSourceOpen for CountedOpen<O> {
    type Reader = O::Reader;

    fn open(self) -> RusticResult<Self::Reader> {
        let path = self.path;
        let counters = self.counters;
        self.inner.open().inspect_err(|e| {
            counters.problem(format!("{}: {}", path.display(), e.display_log()));
        })
    }
}

/// Progress on stderr: one line redrawn at most five times a second.
#[derive(Debug)]
struct Bars {
    show: bool,
    counters: Arc<Counters>,
}

impl ProgressBars for Bars {
    fn progress(&self, kind: ProgressType, prefix: &str) -> Progress {
        if !self.show || prefix.is_empty() {
            return Progress::hidden();
        }
        Progress::new(Bar {
            kind,
            title: Mutex::new(prefix.to_string()),
            pos: AtomicU64::new(0),
            len: AtomicU64::new(0),
            start: Instant::now(),
            drawn: Mutex::new(None),
            counters: self.counters.clone(),
        })
    }
}

#[derive(Debug)]
struct Bar {
    kind: ProgressType,
    title: Mutex<String>,
    pos: AtomicU64,
    len: AtomicU64,
    start: Instant,
    drawn: Mutex<Option<Instant>>,
    counters: Arc<Counters>,
}

impl Bar {
    fn draw(&self, last: bool) {
        use std::io::Write;
        if let Ok(mut drawn) = self.drawn.lock() {
            if !last && drawn.is_some_and(|d| d.elapsed().as_millis() < 200) {
                return;
            }
            *drawn = Some(Instant::now());
        }
        let title = self.title.lock().map(|t| t.clone()).unwrap_or_default();
        let pos = self.pos.load(Ordering::Relaxed);
        let len = self.len.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let line = match self.kind {
            ProgressType::Bytes => {
                let files = self.counters.files.load(Ordering::Relaxed);
                let of = if len > 0 {
                    format!(" of {}", human_bytes(len))
                } else {
                    String::new()
                };
                format!(
                    "{title} {files} files, {}{of}, {}/s",
                    human_bytes(pos),
                    human_bytes((pos as f64 / secs) as u64)
                )
            }
            ProgressType::Counter if len > 0 => format!("{title} {pos}/{len}"),
            ProgressType::Counter => format!("{title} {pos}"),
            ProgressType::Spinner => format!("{title} {secs:.0}s"),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        if last {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

impl RusticProgress for Bar {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
    }
    fn set_title(&self, title: &str) {
        if let Ok(mut t) = self.title.lock() {
            *t = title.to_string();
        }
    }
    fn inc(&self, inc: u64) {
        self.pos.fetch_add(inc, Ordering::Relaxed);
        self.draw(false);
    }
    fn finish(&self) {
        self.draw(true);
    }
}

/// 1.5 MiB, 12 KiB, 300 B.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Replaces every secret in `text` by `***` (errors can quote a URL).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}
