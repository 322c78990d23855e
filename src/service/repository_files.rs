//! The disk under each installation's restic repository
//! (`CC_REPOSITORY_DIR/<installation_id>/`), in restic's own layout, so
//! stock restic can open a copy of the folder.
//!
//! A file is written under a temporary name in its folder, synced, then
//! linked to its real name (a link never replaces an existing file, unlike
//! a rename) and the folder synced: a crash leaves at most a temporary
//! file (a name starting with `.`, never listed), never a half file under
//! a real name. Files whose name is the SHA-256 of their content are
//! checked while they stream in; a mismatch stores nothing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use axum::body::{Bytes, HttpBody};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::domain::InstallationId;
use crate::domain::repository::{FileKind, RepoFile};

/// One installation's repository folder.
#[derive(Debug, Clone)]
pub struct RepoDir {
    root: PathBuf,
}

/// What became of an upload.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Stored,
    /// A file of that name was there already; nothing was changed.
    Exists,
}

/// An upload written to a temporary name, waiting to be published.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    target: PathBuf,
    folder: PathBuf,
    /// The bytes received.
    pub size: u64,
}

impl Staged {
    /// Gives the file its real name — a hard link, which fails when the
    /// name exists, so a file is never replaced — and makes the name
    /// durable (the folder fsynced).
    pub async fn publish(self) -> Result<Written, WriteError> {
        let linked = match tokio::fs::hard_link(&self.temp, &self.target).await {
            Ok(()) => Ok(Written::Stored),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Written::Exists),
            Err(e) => Err(WriteError::Io(e)),
        };
        remove_temp(&self.temp).await;
        let written = linked?;
        if written == Written::Stored {
            let folder = self.folder.clone();
            tokio::task::spawn_blocking(move || sync_dir(&folder))
                .await
                .map_err(std::io::Error::other)??;
        }
        Ok(written)
    }

    /// Drops the upload (refused after it was received).
    pub async fn discard(self) {
        remove_temp(&self.temp).await;
    }
}

async fn remove_temp(temp: &Path) {
    if let Err(e) = tokio::fs::remove_file(temp).await
        && e.kind() != ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "could not remove a temporary upload");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the content's SHA-256 is not its name")]
    Mismatch,
    #[error("the body ended after {got} of {expected} bytes")]
    Short { got: u64, expected: u64 },
    #[error("the body is longer than its Content-Length")]
    Long,
    #[error("reading the body: {0}")]
    Body(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl RepoDir {
    pub fn new(base: &Path, id: InstallationId) -> RepoDir {
        RepoDir {
            root: base.join(id.to_db()),
        }
    }

    /// Moves the whole repository aside under a hidden name (one rename:
    /// clients can no longer reach it); `None` when there is none.
    pub async fn set_aside(&self) -> std::io::Result<Option<PathBuf>> {
        let aside = self.root.with_file_name(format!(
            ".deleted-{}-{}",
            self.root
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            uuid::Uuid::now_v7().simple()
        ));
        match tokio::fs::rename(&self.root, &aside).await {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Puts a repository set aside back (the deletion could not be recorded).
    pub async fn restore_from(&self, aside: &Path) -> std::io::Result<()> {
        tokio::fs::rename(aside, &self.root).await
    }

    pub async fn exists(&self) -> std::io::Result<bool> {
        tokio::fs::try_exists(self.root.join("keys")).await
    }

    /// Creates restic's layout (idempotent): the five folders and
    /// `data/00` … `data/ff`.
    pub async fn create(&self) -> std::io::Result<()> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for k in FileKind::ALL {
                std::fs::create_dir_all(root.join(k.as_str()))?;
            }
            for i in 0..=255u8 {
                std::fs::create_dir_all(root.join("data").join(format!("{i:02x}")))?;
            }
            sync_dir(&root.join("data"))?;
            sync_dir(&root)?;
            if let Some(parent) = root.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    fn folder(&self, f: &RepoFile) -> PathBuf {
        match f {
            RepoFile::Config => self.root.clone(),
            RepoFile::Named(FileKind::Data, name) => self.root.join("data").join(name.prefix()),
            RepoFile::Named(kind, _) => self.root.join(kind.as_str()),
        }
    }

    fn path(&self, f: &RepoFile) -> PathBuf {
        match f {
            RepoFile::Config => self.root.join("config"),
            RepoFile::Named(_, name) => self.folder(f).join(name.as_str()),
        }
    }

    /// A file's metadata, if it is there.
    pub async fn stat(&self, f: &RepoFile) -> std::io::Result<Option<std::fs::Metadata>> {
        match tokio::fs::metadata(self.path(f)).await {
            Ok(m) if m.is_file() => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A file opened for reading, with its size.
    pub async fn open(&self, f: &RepoFile) -> std::io::Result<Option<(tokio::fs::File, u64)>> {
        match tokio::fs::File::open(self.path(f)).await {
            Ok(file) => {
                let m = file.metadata().await?;
                Ok(m.is_file().then_some((file, m.len())))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names and sizes of a folder's files (for `data`, of all its
    /// sub-folders); None when the repository does not exist.
    pub async fn list(&self, kind: FileKind) -> std::io::Result<Option<Vec<(String, u64)>>> {
        if !self.exists().await? {
            return Ok(None);
        }
        let dir = self.root.join(kind.as_str());
        tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<(String, u64)>>> {
            let mut out = Vec::new();
            if kind == FileKind::Data {
                for sub in read_dir(&dir)? {
                    let sub = sub?;
                    if sub.file_type()?.is_dir() {
                        list_files(&sub.path(), &mut out)?;
                    }
                }
            } else {
                list_files(&dir, &mut out)?;
            }
            Ok(Some(out))
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Streams `body` into a temporary file beside `f` (exactly `len`
    /// bytes when the client said how many; restic's REST clients may
    /// also send chunked bodies without a length), fsynced; with
    /// `verify`, only if its SHA-256 is the file's name. Nothing is
    /// visible under the real name until [`Staged::publish`].
    pub async fn stage<B>(
        &self,
        f: &RepoFile,
        len: Option<u64>,
        mut body: B,
        verify: bool,
    ) -> Result<Staged, WriteError>
    where
        B: HttpBody<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let folder = self.folder(f);
        tokio::fs::create_dir_all(&folder).await?;
        let temp = folder.join(format!(".tmp-{}", uuid::Uuid::now_v7().simple()));
        let result = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .await?;
            let mut hasher = Sha256::new();
            let mut got: u64 = 0;
            while let Some(frame) =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
            {
                let frame = frame.map_err(|e| WriteError::Body(e.to_string()))?;
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                got = got.saturating_add(chunk.len() as u64);
                if len.is_some_and(|len| got > len) {
                    return Err(WriteError::Long);
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            if let Some(len) = len
                && got != len
            {
                return Err(WriteError::Short { got, expected: len });
            }
            if verify {
                let digest = hex(&hasher.finalize());
                let name = match f {
                    RepoFile::Named(_, n) => n.as_str(),
                    RepoFile::Config => "",
                };
                if digest != name {
                    return Err(WriteError::Mismatch);
                }
            }
            file.sync_all().await?;
            Ok(got)
        }
        .await;
        match result {
            Ok(size) => Ok(Staged {
                temp,
                target: self.path(f),
                folder,
                size,
            }),
            Err(e) => {
                remove_temp(&temp).await;
                Err(e)
            }
        }
    }

    /// Deletes a file; answers its size, None if it was not there (or
    /// another request deleted it first).
    pub async fn remove(&self, f: &RepoFile) -> std::io::Result<Option<u64>> {
        let Some(m) = self.stat(f).await? else {
            return Ok(None);
        };
        match tokio::fs::remove_file(self.path(f)).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        let folder = self.folder(f);
        tokio::task::spawn_blocking(move || sync_dir(&folder))
            .await
            .map_err(std::io::Error::other)??;
        Ok(Some(m.len()))
    }
}

fn read_dir(
    dir: &Path,
) -> std::io::Result<Box<dyn Iterator<Item = std::io::Result<std::fs::DirEntry>>>> {
    match std::fs::read_dir(dir) {
        Ok(r) => Ok(Box::new(r)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Box::new(std::iter::empty())),
        Err(e) => Err(e),
    }
}

/// The files of one folder whose names are file names (temporary uploads
/// start with `.` and are left out).
fn list_files(dir: &Path, out: &mut Vec<(String, u64)>) -> std::io::Result<()> {
    for entry in read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if crate::domain::repository::FileName::parse(&name).is_none() {
            continue;
        }
        let m = entry.metadata()?;
        if m.is_file() {
            out.push((name, m.len()));
        }
    }
    Ok(())
}

/// Makes a folder's entries durable (the new or removed name).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
