CREATE TABLE customers (
    id                 TEXT PRIMARY KEY,
    vendor_id          TEXT NOT NULL REFERENCES vendors (id),
    name               TEXT NOT NULL,
    vat_id             TEXT NOT NULL DEFAULT '',
    street_address     TEXT NOT NULL DEFAULT '',
    postal_code        TEXT NOT NULL DEFAULT '',
    postal_area        TEXT NOT NULL DEFAULT '',
    country            TEXT NOT NULL DEFAULT 'FI',
    language           TEXT NOT NULL DEFAULT 'fi' CHECK (language IN ('fi', 'en')),
    contact_email      TEXT,
    -- encrypted with the server key; never stored in clear
    encryption_key_enc TEXT,
    username_prefix    TEXT,
    -- lower-case name, VAT id and prefix, for the search-as-you-type picker
    search_text        TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_prefix_key ON customers (username_prefix) WHERE username_prefix IS NOT NULL;
CREATE INDEX customers_vendor_name ON customers (vendor_id, lower(name), id);
CREATE INDEX customers_name ON customers (lower(name), id);

CREATE TABLE licenses (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type            TEXT NOT NULL CHECK (type IN ('purchased', 'trial')),
    state           TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'expired')),
    standard_seats  BIGINT NOT NULL CHECK (standard_seats >= 0),
    standard_used   BIGINT NOT NULL DEFAULT 0 CHECK (standard_used >= 0),
    server_seats    BIGINT NOT NULL CHECK (server_seats >= 0),
    server_used     BIGINT NOT NULL DEFAULT 0 CHECK (server_used >= 0),
    extra_space_gb  BIGINT NOT NULL DEFAULT 0 CHECK (extra_space_gb >= 0),
    client_limit_gb BIGINT NOT NULL DEFAULT 0 CHECK (client_limit_gb >= 0),
    created         TEXT NOT NULL,
    valid_to        TEXT NOT NULL,
    comments        TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- seats are never oversold, whatever the code above does
    CHECK (standard_used <= standard_seats),
    CHECK (server_used <= server_seats),
    CHECK (valid_to >= created)
);
CREATE INDEX licenses_customer ON licenses (customer_id, id);
