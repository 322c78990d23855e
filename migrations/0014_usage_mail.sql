-- The monthly usage e-mail (#15): a vendor's billing address, and one row
-- per vendor and month whose usage CSV was queued for it. The primary key
-- is the claim: whichever instance inserts the row first queues the
-- message in the same transaction, every other instance's insert does
-- nothing, so a month goes out once per vendor however many instances run.
ALTER TABLE vendors ADD COLUMN billing_email TEXT;

CREATE TABLE usage_mails (
    vendor_id  TEXT NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    -- YYYY-MM, the month the attached CSV covers
    month      TEXT NOT NULL,
    -- the outbox row that carries it
    message_id TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (vendor_id, month)
);
