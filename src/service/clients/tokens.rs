//! The installation behind a client token, remembered for a few seconds.

use std::sync::Arc;

use crate::domain::InstallationId;
use crate::service::{Result, Services};
use crate::store::{self, installations::InstallationRow};

/// The installation a client token stands for, as the client-facing
/// operations take it (the faces never see the store's row type).
#[derive(Debug, Clone)]
pub struct ClientSession(Arc<InstallationRow>);

impl std::ops::Deref for ClientSession {
    type Target = InstallationRow;
    fn deref(&self) -> &InstallationRow {
        &self.0
    }
}

impl ClientSession {
    pub fn installation_id(&self) -> InstallationId {
        self.0.id
    }
}

impl Services {
    /// The live installation behind a client token. Answers are kept for
    /// a few seconds (clients report often); this instance forgets an
    /// installation at once when it is deactivated or moved, other
    /// instances within `TOKEN_CACHE_TTL`.
    pub async fn client_by_token(&self, token: &str) -> Result<Option<ClientSession>> {
        let hash = self.key.lookup_hash("client", token);
        if let Some(row) = self.client_cache.get(&hash) {
            return Ok(Some(ClientSession(row)));
        }
        let mut c = self.store.read().await?;
        let row = store::installations::find_by_token(&mut c, &hash)
            .await?
            .map(Arc::new);
        if let Some(r) = &row {
            self.client_cache.put(hash, r.clone());
        }
        Ok(row.map(ClientSession))
    }
}

/// How long a token's installation is remembered.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Recently seen client tokens (by keyed hash) and their installations.
#[derive(Debug, Default)]
pub struct ClientCache {
    map: std::sync::Mutex<
        std::collections::HashMap<String, (Arc<InstallationRow>, std::time::Instant)>,
    >,
}

impl ClientCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, (Arc<InstallationRow>, std::time::Instant)>,
    > {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn get(&self, hash: &str) -> Option<Arc<InstallationRow>> {
        let g = self.lock();
        g.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(r, _)| r.clone())
    }

    fn put(&self, hash: String, row: Arc<InstallationRow>) {
        let mut g = self.lock();
        if g.len() > 200_000 {
            g.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
        }
        g.insert(hash, (row, std::time::Instant::now()));
    }

    /// Forgets an installation (deactivated, moved to another license).
    pub fn forget(&self, installation: InstallationId) {
        self.lock().retain(|_, (r, _)| r.id != installation);
    }
}
