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

const KEY_FILE: &str = "secret.key";
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
    fn hex_key_checked() {
        assert!(ServerKey::from_hex("zz").is_err());
        assert!(ServerKey::from_hex(&"ab".repeat(32)).is_ok());
    }
}
