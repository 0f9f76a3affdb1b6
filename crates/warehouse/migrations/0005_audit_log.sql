-- The audit log (DESIGN.md §10): one row per administrative action, written by the commands that
-- run them (crates/audit). Append-only: the writer role may insert and read (grants.rs revokes the
-- rest from it), and the trigger below refuses UPDATE, DELETE and TRUNCATE to everyone, the owner
-- included, so that a record cannot be changed or removed without dropping the trigger first.
CREATE TABLE IF NOT EXISTS audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz      NOT NULL,
    seconds   double precision NOT NULL,
    actor     text             NOT NULL,
    action    text             NOT NULL,
    arguments jsonb            NOT NULL,
    ok        boolean          NOT NULL,
    result    jsonb            NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, id);

CREATE OR REPLACE FUNCTION lakehouse_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION lakehouse_audit_log_append_only();
CREATE OR REPLACE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION lakehouse_audit_log_append_only();
