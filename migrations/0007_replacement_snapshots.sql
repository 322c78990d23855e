-- Replacing a computer: an invite may name the installation it replaces.
-- Activating with it hands that installation's repository to the new one
-- (repository_id: the folder under the repository root, NULL = the
-- installation's own id) and deactivates the old one (replaced_by), so the
-- new computer restores and continues the same history.
ALTER TABLE invites ADD COLUMN replaces_installation_id TEXT REFERENCES installations (id) ON DELETE SET NULL;
ALTER TABLE installations ADD COLUMN repository_id TEXT;
ALTER TABLE installations ADD COLUMN replaced_by TEXT;

-- What a real backup run reports beyond the figures: the snapshot it made
-- and how many files were new; simulated runs (demos, benchmarks) say so.
ALTER TABLE reports ADD COLUMN snapshot_id TEXT;
ALTER TABLE reports ADD COLUMN files_new BIGINT;
ALTER TABLE reports ADD COLUMN simulated BIGINT NOT NULL DEFAULT 0;
