-- The api's stored ingest keys (README, Posting events): made, listed and revoked with
-- `lakehouse-api keys`, read by every api replica every API_KEYS_REFRESH_SECS. Only a key's
-- SHA-256 and a short prefix are kept. grants.rs gives the key reader role SELECT here and
-- nothing else, and keeps the reader and writer roles off it. IF NOT EXISTS: a warehouse where
-- an older api made this same table keeps it and its keys.
CREATE TABLE IF NOT EXISTS api_keys (
    id uuid PRIMARY KEY,
    project_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    key_hash bytea NOT NULL UNIQUE,
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
