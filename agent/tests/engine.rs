//! The backup engine against real repositories (local folders; stock
//! `restic` reads what it wrote). No mocks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use command_center_agent::engine::{Engine, Location, SnapshotSettings};
use rustic_core::jiff::{Span, Zoned};

/// Stock restic, or `None` (outside CI only) with a loud note.
fn restic() -> Option<PathBuf> {
    let found = ["/usr/bin/restic", "/usr/local/bin/restic"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "restic is not installed: CI must run the compatibility checks (apt-get install restic)"
            );
        }
        eprintln!("\n*** SKIPPING the stock-restic checks: restic is not installed ***\n");
    }
    found
}

fn restic_cmd(bin: &Path, repo: &Path, password: &str) -> Command {
    let mut c = Command::new(bin);
    c.arg("-r")
        .arg(repo)
        .arg("--no-cache")
        .env("RESTIC_PASSWORD", password)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD_FILE");
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>),
    Link(PathBuf),
}

/// Every name under `root` with its kind and full contents.
fn manifest(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(rel, Entry::Link(std::fs::read_link(&path).unwrap()));
            } else if ft.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, out);
            } else {
                out.insert(rel, Entry::File(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Pseudo-random bytes (xorshift): incompressible, not deduplicated.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Nested folders, empty files and an empty folder, a 50 MB file,
/// non-ASCII names, symlinks (relative, absolute, dangling).
fn generate(src: &Path) {
    write(&src.join("a/b/c/deep.txt"), b"deep down\n");
    write(&src.join("a/b/sibling.txt"), b"next to c\n");
    write(&src.join("a/empty.txt"), b"");
    write(&src.join("empty-too"), b"");
    std::fs::create_dir_all(src.join("empty-dir")).unwrap();
    write(
        &src.join("big/fifty.bin"),
        &noise(50 * 1024 * 1024, 0x9e37_79b9_7f4a_7c15),
    );
    write(&src.join("Grüße/日本語 ñ.txt"), "ünïcödé\n".as_bytes());
    write(&src.join("emoji 🎉/x y.bin"), &noise(100_000, 7));
    write(&src.join("to-change.txt"), b"version one\n");
    write(&src.join("to-delete.txt"), b"short-lived\n");
    std::os::unix::fs::symlink("a/b/c/deep.txt", src.join("link-relative")).unwrap();
    std::os::unix::fs::symlink(src.join("a/empty.txt"), src.join("link-absolute")).unwrap();
    std::os::unix::fs::symlink("nowhere/at/all", src.join("link-dangling")).unwrap();
}

fn under(target: &Path, original: &Path) -> PathBuf {
    target.join(original.strip_prefix("/").unwrap())
}

#[test]
fn backup_change_restore_and_stock_restic_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::canonicalize(dir.path()).unwrap().join("src");
    let repo_dir = dir.path().join("repo");
    generate(&src);
    let first = manifest(&src);

    let engine = Engine::new(Location::Local(repo_dir.clone()));
    assert!(!engine.exists().unwrap());
    let mut repo = engine.open_or_init("correct horse").unwrap();
    assert!(engine.exists().unwrap());

    let one = repo
        .backup(std::slice::from_ref(&src), &SnapshotSettings::default())
        .unwrap();
    // Like restic, symlinks count as files.
    let files = first.values().filter(|e| !matches!(e, Entry::Dir)).count() as u64;
    let bytes: u64 = first
        .values()
        .map(|e| match e {
            Entry::File(b) => b.len() as u64,
            _ => 0,
        })
        .sum();
    assert_eq!(one.files_total, files);
    assert_eq!(one.files_new, files);
    assert_eq!(one.bytes_total, bytes);
    assert!(one.bytes_added > 50 * 1024 * 1024, "{one:?}");
    assert!(one.unreadable.is_empty(), "{one:?}");

    // Change one file, delete one, add one: the second run sees exactly that.
    write(&src.join("to-change.txt"), b"version two, longer\n");
    std::fs::remove_file(src.join("to-delete.txt")).unwrap();
    write(&src.join("a/new.txt"), b"fresh\n");
    let second = manifest(&src);
    let mut repo = engine.open("correct horse").unwrap();
    let two = repo
        .backup(std::slice::from_ref(&src), &SnapshotSettings::default())
        .unwrap();
    assert_eq!(two.files_new, 1, "{two:?}");
    assert_eq!(two.files_changed, 1, "{two:?}");
    assert_eq!(two.files_total, files);
    assert!(
        two.bytes_added < 1024 * 1024,
        "nothing big re-uploaded: {two:?}"
    );

    let snaps = repo.snapshots().unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![one.snapshot_id.clone(), two.snapshot_id.clone()]
    );
    assert_eq!(snaps[0].paths, vec![src.display().to_string()]);

    // Both snapshots restore byte for byte, name for name.
    let r1 = dir.path().join("restore-1");
    let r2 = dir.path().join("restore-2");
    repo.restore(&one.snapshot_id[..8], &r1, &[]).unwrap();
    repo.restore("latest", &r2, &[]).unwrap();
    assert!(manifest(&under(&r1, &src)) == first, "snapshot 1 differs");
    assert!(manifest(&under(&r2, &src)) == second, "snapshot 2 differs");

    // Only some paths: those and nothing else.
    let part = dir.path().join("restore-part");
    repo.restore("latest", &part, &[src.join("Grüße"), src.join("a/b/c")])
        .unwrap();
    let got = manifest(&under(&part, &src));
    let want: BTreeMap<_, _> = second
        .into_iter()
        .filter(|(p, _)| {
            p.starts_with("Grüße")
                || p.starts_with("a/b/c")
                || p == Path::new("a/b")
                || p == Path::new("a")
        })
        .collect();
    assert!(
        got == want,
        "partial restore: {:?}",
        got.keys().collect::<Vec<_>>()
    );

    // Stock restic sees the same snapshots and restores the same bytes.
    let Some(restic) = restic() else { return };
    let listed: serde_json::Value = serde_json::from_str(&run_ok(
        restic_cmd(&restic, &repo_dir, "correct horse").args(["snapshots", "--json"]),
    ))
    .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![one.snapshot_id.as_str(), two.snapshot_id.as_str()]
    );
    let s1 = dir.path().join("restic-1");
    run_ok(restic_cmd(&restic, &repo_dir, "correct horse").args([
        "restore",
        &one.snapshot_id,
        "--target",
        s1.to_str().unwrap(),
    ]));
    assert!(
        manifest(&under(&s1, &src)) == first,
        "restic's restore differs"
    );
    run_ok(restic_cmd(&restic, &repo_dir, "correct horse").args(["check", "--read-data"]));
}

#[test]
fn retention_forgets_outside_the_window_and_keeps_inside() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src.join("f.txt"), b"x");
    let repo_dir = dir.path().join("repo");
    let engine = Engine::new(Location::Local(repo_dir.clone()));
    let mut repo = engine.init("pw").unwrap();
    let mut ids = Vec::new();
    for days_ago in [45, 31, 29, 2, 0] {
        write(
            &src.join(format!("{days_ago}.txt")),
            &noise(10_000, days_ago + 1),
        );
        let time = Zoned::now()
            .checked_sub(Span::new().days(days_ago as i64))
            .unwrap();
        let out = repo
            .backup(
                std::slice::from_ref(&src),
                &SnapshotSettings {
                    time: Some(time),
                    ..Default::default()
                },
            )
            .unwrap();
        ids.push(out.snapshot_id);
    }
    let forgotten = repo.forget_outside(30).unwrap();
    assert_eq!(forgotten, ids[..2].to_vec());
    let left: Vec<String> = repo
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, ids[2..].to_vec());

    // Still whole after prune: the oldest kept snapshot restores.
    let r = dir.path().join("r");
    repo.restore(&ids[2], &r, &[]).unwrap();
    let root = under(&r, &std::fs::canonicalize(&src).unwrap());
    assert_eq!(
        std::fs::read(root.join("45.txt")).unwrap(),
        noise(10_000, 46)
    );

    // A window of zero days still keeps the newest snapshot.
    let forgotten = repo.forget_outside(0).unwrap();
    assert_eq!(forgotten.len(), 2);
    assert_eq!(repo.snapshots().unwrap().len(), 1);

    if let Some(restic) = restic() {
        run_ok(restic_cmd(&restic, &repo_dir, "pw").args(["check", "--read-data"]));
    }
}

#[test]
fn key_change_moves_the_repository_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src.join("f.txt"), b"keep me");
    let repo_dir = dir.path().join("repo");
    let engine = Engine::new(Location::Local(repo_dir.clone()));
    let mut repo = engine.init("old key").unwrap();
    repo.backup(std::slice::from_ref(&src), &SnapshotSettings::default())
        .unwrap();
    drop(repo);

    engine.change_key("old key", "new key").unwrap();
    let err = engine.open("old key").err().unwrap().to_string();
    assert!(err.contains("does not open"), "{err}");
    assert_eq!(
        engine.open("new key").unwrap().snapshots().unwrap().len(),
        1
    );
    assert_eq!(std::fs::read_dir(repo_dir.join("keys")).unwrap().count(), 1);

    if let Some(restic) = restic() {
        run_ok(restic_cmd(&restic, &repo_dir, "new key").args(["snapshots"]));
        let old = restic_cmd(&restic, &repo_dir, "old key")
            .arg("snapshots")
            .output()
            .unwrap();
        assert!(!old.status.success(), "restic still opens with the old key");
    }
}

#[test]
fn rest_locations_carry_credentials_but_never_show_them() {
    let loc = Location::rest_with_credentials(
        "rest:http://127.0.0.1:8080/repo/0199-abc/",
        "0199-abc",
        "tok-secret",
    )
    .unwrap();
    let Location::Rest(url) = &loc else {
        panic!("not REST")
    };
    assert_eq!(
        url,
        "http://0199-abc:tok-secret@127.0.0.1:8080/repo/0199-abc/"
    );
    assert!(!format!("{loc:?}").contains("tok-secret"));
    assert!(Location::rest_with_credentials("http://x/repo/1/", "u", "p").is_err());
}

#[test]
fn the_policy_key_opens_initialises_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Location::Local(dir.path().join("repo")));

    // First use: initialised with the policy's key, which is remembered.
    let (stored, repo) = engine.open_with_key(None, "k1");
    assert!(repo.is_ok());
    assert_eq!(stored.as_deref(), Some("k1"));

    // The operator changes the key: the repository moves to it.
    let (stored, repo) = engine.open_with_key(Some("k1"), "k2");
    repo.unwrap();
    assert_eq!(stored.as_deref(), Some("k2"));
    assert!(engine.open("k1").is_err());

    // A move that happened but was never recorded: the new key opens it.
    let (stored, repo) = engine.open_with_key(Some("k1"), "k2");
    repo.unwrap();
    assert_eq!(stored.as_deref(), Some("k2"));

    // Neither the remembered key nor the policy's opens it: refused,
    // nothing changes, the remembered key is kept.
    let (stored, repo) = engine.open_with_key(Some("lost"), "other");
    let err = format!("{:#}", repo.err().unwrap());
    assert!(err.contains("new encryption key"), "{err}");
    assert_eq!(stored.as_deref(), Some("lost"));
    engine.open("k2").unwrap();
}
