-- Per-minute rollups by project, event type, name and path: what traffic panels read. Maintained
-- in the batch's transaction from the rows actually inserted, so a duplicate never counts.
-- Absent names and paths are '' so that they can be part of the key.
CREATE TABLE IF NOT EXISTS event_rollups_minute (
    bucket     timestamptz      NOT NULL,
    project_id text             NOT NULL,
    event_type text             NOT NULL,
    event_name text             NOT NULL DEFAULT '',
    path       text             NOT NULL DEFAULT '',
    events     bigint           NOT NULL,
    value_sum  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, project_id, event_type, event_name, path)
);
