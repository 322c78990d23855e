-- Scoped API tokens (#16): a name, scopes (`read`, `write`, `admin`,
-- separated by spaces) and where it was last used. Tokens made before
-- (from e-mail and password) have no name and every scope: they act as
-- their operator, whose role still limits them.
ALTER TABLE api_tokens ADD COLUMN name TEXT;
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';
ALTER TABLE api_tokens ADD COLUMN last_used_ip TEXT;
