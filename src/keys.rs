//! The server key: encrypts every secret at rest and keys the hashes used to
//! find codes and tokens. Created on first start in the data dir (mode 0600)
//! or given as `CC_SECRET_KEY` (64 hex characters).

use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::Secret;

/// The key file's name in the data dir.
pub const KEY_FILE: &str = "secret.key";
const ENC_PREFIX: &str = "v1:";

/// The loaded server key with its two derived sub-keys.
#[derive(Clone)]
pub struct ServerKey {
    enc: Secret<[u8; 32]>,
    mac: Secret<[u8; 32]>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(***)")
    }
}

/// Fills a buffer from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("OS random source failed: {e}"))?;
    Ok(b)
}

/// A random bearer token: 256 bits, URL-safe base64.
pub fn random_token() -> anyhow::Result<Secret<String>> {
    let b = random_bytes::<32>()?;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
    ))
}

/// A new API token: `cc_…` with a checksum (see domain::api_token).
pub fn new_api_token() -> anyhow::Result<Secret<String>> {
    loop {
        let b = random_bytes::<64>()?;
        if let Some(t) = crate::domain::api_token::format_token(&b) {
            return Ok(Secret::new(t));
        }
    }
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(master).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be reached.
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&[0u8; 32])
            .unwrap_or_else(|_| unreachable!())
    });
    m.update(label);
    let out = m.finalize().into_bytes();
    let mut k = [0u8; 32];
    k.copy_from_slice(&out);
    k
}

impl ServerKey {
    pub fn from_master(master: [u8; 32]) -> ServerKey {
        ServerKey {
            enc: Secret::new(derive(&master, b"command-center/encrypt/v1")),
            mac: Secret::new(derive(&master, b"command-center/lookup-hash/v1")),
        }
    }

    /// Parses `CC_SECRET_KEY`: 64 hex characters.
    pub fn from_hex(s: &str) -> anyhow::Result<ServerKey> {
        let s = s.trim();
        if s.len() != 64 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            anyhow::bail!("CC_SECRET_KEY must be 64 hexadecimal characters (32 bytes)");
        }
        let mut master = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk)?;
            master[i] = u8::from_str_radix(hex, 16)?;
        }
        Ok(ServerKey::from_master(master))
    }

    /// Loads the key file from the data dir, creating it (0600) if missing.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<ServerKey> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => ServerKey::from_hex(&text)
                .map_err(|e| anyhow::anyhow!("the key file {} is not valid: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let master = random_bytes::<32>()?;
                let hex: String = master.iter().map(|b| format!("{b:02x}")).collect();
                write_private(&path, &hex)?;
                tracing::info!(path = %path.display(), "created a new server key");
                Ok(ServerKey::from_master(master))
            }
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Encrypts a secret for storage: `v1:` + base64(nonce ‖ ciphertext).
    pub fn encrypt(&self, plaintext: &str) -> anyhow::Result<String> {
        let cipher = XChaCha20Poly1305::new_from_slice(self.enc.expose())
            .map_err(|_| anyhow::anyhow!("bad key length"))?;
        let nonce_bytes = random_bytes::<24>()?;
        let nonce = XNonce::from(nonce_bytes);
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(format!(
            "{ENC_PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Decrypts what [`ServerKey::encrypt`] wrote. Fails if the text was
    /// written with another key.
    pub fn decrypt(&self, stored: &str) -> anyhow::Result<Secret<String>> {
        let b64 = stored
            .strip_prefix(ENC_PREFIX)
            .ok_or_else(|| anyhow::anyhow!("unknown secret format"))?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64)?;
        if raw.len() < 24 + 16 {
            anyhow::bail!("stored secret is too short");
        }
        let (n, ct) = raw.split_at(24);
        let mut nonce_bytes = [0u8; 24];
        nonce_bytes.copy_from_slice(n);
        let cipher = XChaCha20Poly1305::new_from_slice(self.enc.expose())
            .map_err(|_| anyhow::anyhow!("bad key length"))?;
        let pt = cipher
            .decrypt(&XNonce::from(nonce_bytes), ct)
            .map_err(|_| anyhow::anyhow!("cannot decrypt: written with another server key"))?;
        Ok(Secret::new(String::from_utf8(pt)?))
    }

    /// A keyed hash (HMAC-SHA-256, hex) for finding high-entropy secrets
    /// (session and API tokens, activation codes) without storing them.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        let mut m = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.mac.expose()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes any key length"),
        };
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(value.as_bytes());
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The master key as its 64 hex characters: `CC_SECRET_KEY` when given,
/// else the key file in the data dir (what a backup must carry).
pub fn master_hex(
    configured: Option<&Secret<String>>,
    data_dir: &Path,
) -> anyhow::Result<Secret<String>> {
    let hex = match configured {
        Some(k) => Secret::new(k.expose().trim().to_string()),
        None => {
            let path = data_dir.join(KEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!("cannot read the server key {}: {e}", path.display())
            })?;
            Secret::new(text.trim().to_string())
        }
    };
    // Checked like at start, so a backup never carries a broken key.
    ServerKey::from_hex(hex.expose())?;
    Ok(hex)
}

/// Writes the key file of a restored console (0600, fsynced); refuses to
/// overwrite one.
pub fn write_key_file(data_dir: &Path, hex: &Secret<String>) -> anyhow::Result<()> {
    ServerKey::from_hex(hex.expose())?;
    write_private(&data_dir.join(KEY_FILE), hex.expose())
}

/// Argon2id cost of a backup passphrase: 64 MiB, 3 passes (a backup is
/// opened rarely; a guesser pays this for every try).
const SEAL_M_COST: u32 = 64 * 1024;
const SEAL_T_COST: u32 = 3;

/// A secret sealed with a passphrase: argon2id derives a key from the
/// passphrase and a random salt; XChaCha20-Poly1305 encrypts and
/// authenticates (a wrong passphrase or a changed byte fails to open).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sealed {
    pub kdf: String,
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// base64
    pub salt: String,
    /// base64
    pub nonce: String,
    /// base64
    pub ciphertext: String,
}

fn passphrase_key(
    passphrase: &[u8],
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> anyhow::Result<Secret<[u8; 32]>> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut buf = [0u8; 32];
    a.hash_password_into(passphrase, salt, &mut buf)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let key = Secret::new(buf);
    secrecy::zeroize::Zeroize::zeroize(&mut buf);
    Ok(key)
}

/// Seals `plaintext` with a passphrase.
pub fn seal(passphrase: &Secret<String>, plaintext: &[u8]) -> anyhow::Result<Sealed> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let salt = random_bytes::<16>()?;
    let nonce = random_bytes::<24>()?;
    let key = passphrase_key(
        passphrase.expose().as_bytes(),
        &salt,
        SEAL_M_COST,
        SEAL_T_COST,
        1,
    )?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.expose())
        .map_err(|_| anyhow::anyhow!("bad key length"))?;
    let ct = cipher
        .encrypt(&XNonce::from(nonce), plaintext)
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
    Ok(Sealed {
        kdf: "argon2id".into(),
        m_cost: SEAL_M_COST,
        t_cost: SEAL_T_COST,
        p_cost: 1,
        salt: b64.encode(salt),
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(ct),
    })
}

/// Opens what [`seal`] wrote; a wrong passphrase is an error that says so.
pub fn open_sealed(
    passphrase: &Secret<String>,
    sealed: &Sealed,
) -> anyhow::Result<Secret<Vec<u8>>> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    if sealed.kdf != "argon2id" {
        anyhow::bail!("unknown key derivation {:?}", sealed.kdf);
    }
    // Bounds, so a crafted archive cannot ask for terabytes of memory.
    if sealed.m_cost > 4 * 1024 * 1024 || sealed.t_cost > 100 || sealed.p_cost > 16 {
        anyhow::bail!("the passphrase parameters in the archive are out of range");
    }
    let salt = b64.decode(&sealed.salt)?;
    let nonce: [u8; 24] = b64
        .decode(&sealed.nonce)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the sealed key's nonce has the wrong length"))?;
    let ct = b64.decode(&sealed.ciphertext)?;
    let key = passphrase_key(
        passphrase.expose().as_bytes(),
        &salt,
        sealed.m_cost,
        sealed.t_cost,
        sealed.p_cost,
    )?;
    let cipher = XChaCha20Poly1305::new_from_slice(key.expose())
        .map_err(|_| anyhow::anyhow!("bad key length"))?;
    let pt = cipher
        .decrypt(&XNonce::from(nonce), ct.as_slice())
        .map_err(|_| anyhow::anyhow!("the passphrase does not open the server key in this archive (wrong passphrase, or the archive was changed)"))?;
    Ok(Secret::new(pt))
}

/// Writes a file that only the owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Compares two secrets (hashes, CSRF tokens) in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let k = ServerKey::from_master([7u8; 32]);
        let ct = k.encrypt("ABCD-EFGH").unwrap();
        assert!(!ct.contains("ABCD"));
        assert_eq!(k.decrypt(&ct).unwrap().expose(), "ABCD-EFGH");
        let other = ServerKey::from_master([8u8; 32]);
        assert!(other.decrypt(&ct).is_err());
        assert_ne!(k.lookup_hash("a", "x"), other.lookup_hash("a", "x"));
        assert_ne!(k.lookup_hash("a", "x"), k.lookup_hash("b", "x"));
    }

    #[test]
    fn key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = ServerKey::load_or_create(dir.path()).unwrap();
        let k2 = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.lookup_hash("p", "v"), k2.lookup_hash("p", "v"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn sealed_with_a_passphrase() {
        let p = Secret::new("correct passphrase".to_string());
        let sealed = seal(&p, b"abcdef").unwrap();
        assert!(!sealed.ciphertext.contains("abcdef"));
        assert_eq!(open_sealed(&p, &sealed).unwrap().expose(), b"abcdef");
        let wrong = Secret::new("wrong passphrase".to_string());
        let e = open_sealed(&wrong, &sealed).unwrap_err().to_string();
        assert!(e.contains("does not open"), "{e}");
        let mut huge = sealed.clone();
        huge.m_cost = u32::MAX;
        assert!(open_sealed(&p, &huge).is_err(), "no memory bomb");
    }

    #[test]
    fn hex_key_checked() {
        assert!(ServerKey::from_hex("zz").is_err());
        assert!(ServerKey::from_hex(&"ab".repeat(32)).is_ok());
    }
}
