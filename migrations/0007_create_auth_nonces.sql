-- Signature nonces seen within the clock-skew window, shared by every API replica, so a captured
-- signed request cannot be replayed against another replica. UNLOGGED: no WAL per request; after a
-- PostgreSQL crash the table starts empty, and the signing-time window still bounds any replay.

CREATE UNLOGGED TABLE auth_nonces (
    -- access key id and nonce, "id:nonce"
    nonce      text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX auth_nonces_by_expiry ON auth_nonces (expires_at);
