-- Each installation's restic repository is served by the console
-- (`/repo/{installation_id}/`). The bytes are counted here, exactly, so the
-- server can refuse an upload that would pass the Client limit or the
-- license's Total space with one guarded UPDATE each, shared by every
-- instance:
--   installations.repo_bytes  bytes stored plus bytes reserved by uploads in flight
--   licenses.repo_bytes       the same summed over the license's installations
--                             (deactivated ones too: their repositories stay)
--   installations.has_repository  1 once the repository exists; from then on
--                             storage_used_bytes is the bytes stored (kept in
--                             step with every write and delete), and reports
--                             no longer set it.
ALTER TABLE installations ADD COLUMN has_repository BIGINT NOT NULL DEFAULT 0;
ALTER TABLE installations ADD COLUMN repo_bytes BIGINT NOT NULL DEFAULT 0 CHECK (repo_bytes >= 0);
ALTER TABLE licenses ADD COLUMN repo_bytes BIGINT NOT NULL DEFAULT 0 CHECK (repo_bytes >= 0);
