-- Daily usage samples for billing: one row per license per UTC day,
-- written by whichever instance samples first and refreshed (upsert on the
-- primary key) by the later ones, so several instances never double a day.
-- No foreign keys: a month already invoiced must not change because a
-- customer or license was deleted afterwards, so the owner's ids and the
-- customer's name are copied into the row.
--   day                 ISO date (UTC) the row stands for
--   license_type        purchased / trial
--   license_state       the effective state that day (past Valid to = expired)
--   *_seats, *_used     Standard and Server seats licensed and in use
--   total_space_gb      seats × space per seat + extra space, in GB
--   storage_used_bytes  the server's count of the license's repositories
--   sampled_at          when the row was last written (ms)
CREATE TABLE usage_daily (
    license_id         TEXT NOT NULL,
    day                TEXT NOT NULL,
    customer_id        TEXT NOT NULL,
    vendor_id          TEXT NOT NULL,
    customer_name      TEXT NOT NULL,
    license_type       TEXT NOT NULL,
    license_state      TEXT NOT NULL,
    standard_seats     BIGINT NOT NULL,
    standard_used      BIGINT NOT NULL,
    server_seats       BIGINT NOT NULL,
    server_used        BIGINT NOT NULL,
    extra_space_gb     BIGINT NOT NULL,
    total_space_gb     BIGINT NOT NULL,
    storage_used_bytes BIGINT NOT NULL,
    sampled_at         BIGINT NOT NULL,
    PRIMARY KEY (license_id, day)
);
CREATE INDEX usage_daily_vendor_day ON usage_daily (vendor_id, day);
CREATE INDEX usage_daily_day ON usage_daily (day);
