-- Monitoring at scale: an installation carries what the monitoring view
-- filters and sorts on (its customer, vendor and lower-case customer name,
-- and the part of its health that does not move with the clock), so a page
-- of the view is an index range instead of a join over every client.
-- The columns are kept in step by the statements that change their sources
-- (activation, connect trial, customer edit, license edit, reports).
ALTER TABLE installations ADD COLUMN customer_id TEXT;
ALTER TABLE installations ADD COLUMN vendor_id TEXT;
ALTER TABLE installations ADD COLUMN sort_name TEXT NOT NULL DEFAULT '';
-- 4 = last run failed, 2 = no report yet, 1 = last run had warnings or the
-- client is over its client limit, 0 = fine. "Overdue" is the clock's part:
-- health_base 0 or 1 with last_success_at at or before now - CC_OVERDUE_HOURS.
ALTER TABLE installations ADD COLUMN health_base BIGINT NOT NULL DEFAULT 2;

UPDATE installations SET
    customer_id = (SELECT l.customer_id FROM licenses l WHERE l.id = installations.license_id),
    vendor_id = (SELECT c.vendor_id FROM licenses l JOIN customers c ON c.id = l.customer_id
                 WHERE l.id = installations.license_id),
    sort_name = (SELECT lower(c.name) FROM licenses l JOIN customers c ON c.id = l.customer_id
                 WHERE l.id = installations.license_id),
    health_base = CASE
        WHEN last_backup_at IS NULL THEN 2
        WHEN last_backup_status = 'failed' THEN 4
        WHEN last_backup_status = 'warning'
          OR storage_used_bytes > (SELECT CASE WHEN l.client_limit_gb > 0 THEN l.client_limit_gb * 1000000000
                                               ELSE storage_used_bytes END
                                   FROM licenses l WHERE l.id = installations.license_id) THEN 1
        ELSE 0 END;

CREATE INDEX installations_monitoring ON installations (health_base, sort_name, id)
    WHERE deactivated_at IS NULL;
CREATE INDEX installations_monitoring_vendor ON installations (vendor_id, health_base, sort_name, id)
    WHERE deactivated_at IS NULL;
CREATE INDEX installations_customer ON installations (customer_id) WHERE deactivated_at IS NULL;
CREATE INDEX installations_last_success ON installations (last_success_at) WHERE deactivated_at IS NULL;

-- Alerts: who hears about a vendor's alerts, in which language, and whether
-- as they happen or once a day.
ALTER TABLE vendors ADD COLUMN alert_language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE vendors ADD COLUMN alert_digest BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vendors ADD COLUMN digest_sent_at BIGINT;

-- One row each time a condition starts to hold for a subject (an
-- installation or a license); closed_at is set when it stops. At most one
-- open alert per (kind, subject), whatever the number of instances: the
-- e-mail is queued only by the insert that created the row.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    vendor_id   TEXT NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- overdue, failing, client_limit, storage_90, expires_30, expires_7
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    -- what the message says (JSON: names, numbers, dates)
    detail      TEXT NOT NULL DEFAULT '{}',
    opened_at   BIGINT NOT NULL,
    closed_at   BIGINT,
    -- when the alert went out: at once (set when opened) or in a vendor's
    -- daily digest (claimed by the digest that lists it)
    notified_at BIGINT
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (kind, subject_id) WHERE closed_at IS NULL;
CREATE INDEX alerts_vendor ON alerts (vendor_id, opened_at);
CREATE INDEX alerts_customer ON alerts (customer_id);
CREATE INDEX alerts_open_recent ON alerts (opened_at, id) WHERE closed_at IS NULL;
