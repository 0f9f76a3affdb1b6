-- The per-project reader roles (DESIGN.md §7, "Each project's rows to its own readers"): which
-- projects each role made by `lakehouse warehouse grant-project` may read. project_readers.rs
-- turns each role's rows into a row-level security policy on every table with a project_id, and
-- grants.rs keeps every other role off this table: a project reader must not learn which other
-- projects exist. Row security itself is enabled by grants.rs, in the transaction that creates
-- the policies, so no reader ever sees a table with row security and no policy for it.
CREATE TABLE IF NOT EXISTS project_readers (
    role       name NOT NULL,
    project_id text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, project_id)
);
