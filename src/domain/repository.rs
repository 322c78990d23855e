//! The files of a restic repository as the REST protocol names them, and
//! the rules about them. Parsing here is what makes path traversal
//! impossible: a name is 64 lower-case hex digits or nothing.

use std::fmt;

/// A folder of a restic repository (everything but `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Data,
    Keys,
    Locks,
    Snapshots,
    Index,
}

impl FileKind {
    pub const ALL: [FileKind; 5] = [
        FileKind::Data,
        FileKind::Keys,
        FileKind::Locks,
        FileKind::Snapshots,
        FileKind::Index,
    ];

    pub fn parse(s: &str) -> Option<FileKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Data => "data",
            FileKind::Keys => "keys",
            FileKind::Locks => "locks",
            FileKind::Snapshots => "snapshots",
            FileKind::Index => "index",
        }
    }
}

/// A file's name: the SHA-256 of its content in lower-case hex (restic
/// names every file but `config` so, locks included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub fn parse(s: &str) -> Option<FileName> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| FileName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two digits: the sub-folder of `data/`.
    pub fn prefix(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoFile {
    Config,
    Named(FileKind, FileName),
}

impl RepoFile {
    /// What a client may never delete nor replace: the repository's
    /// config and its keys (a stolen token must not lock the owner out).
    pub fn is_permanent(&self) -> bool {
        matches!(self, RepoFile::Config | RepoFile::Named(FileKind::Keys, _))
    }
}

/// Whether a snapshot stored `age_secs` ago may be deleted by a client
/// when the installation keeps deleted data `store_deleted_days`.
pub fn snapshot_deletable(age_secs: u64, store_deleted_days: i64) -> bool {
    let keep = u64::try_from(store_deleted_days.max(0))
        .unwrap_or(0)
        .saturating_mul(86_400);
    age_secs >= keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_64_lower_hex() {
        let ok = "a".repeat(64);
        assert!(FileName::parse(&ok).is_some());
        assert!(FileName::parse(&"A".repeat(64)).is_none());
        assert!(FileName::parse(&"a".repeat(63)).is_none());
        assert!(FileName::parse(&"a".repeat(65)).is_none());
        assert!(FileName::parse(&format!("..{}", "a".repeat(62))).is_none());
        assert!(FileName::parse(&format!("{}/a", "a".repeat(62))).is_none());
        assert_eq!(FileName::parse(&ok).unwrap().prefix(), "aa");
    }

    #[test]
    fn kinds_parse() {
        for k in FileKind::ALL {
            assert_eq!(FileKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(FileKind::parse("config"), None);
        assert_eq!(FileKind::parse("../data"), None);
    }

    #[test]
    fn snapshot_age_rule() {
        assert!(!snapshot_deletable(0, 30));
        assert!(!snapshot_deletable(30 * 86_400 - 1, 30));
        assert!(snapshot_deletable(30 * 86_400, 30));
        assert!(snapshot_deletable(0, 0));
        assert!(snapshot_deletable(0, -1));
    }
}
