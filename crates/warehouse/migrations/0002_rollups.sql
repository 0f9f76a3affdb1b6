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

-- A database that already holds events gets their rollups now, in the same transaction that
-- creates the table, so the rollups never miss what was stored before they existed.
INSERT INTO event_rollups_minute (bucket, project_id, event_type, event_name, path, events, value_sum)
SELECT date_trunc('minute', "timestamp"), project_id, event_type, coalesce(event_name, ''),
       coalesce(path, ''), count(*), coalesce(sum(value), 0)
FROM events
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (bucket, project_id, event_type, event_name, path) DO NOTHING;
