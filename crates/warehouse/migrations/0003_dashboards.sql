-- What the Grafana dashboards read besides the per-minute rollups. Every table is fed in the
-- batch's transaction from the rows the events INSERT really inserted, so a duplicate or a replay
-- never counts; the two set tables (unique ids, funnel progress) are idempotent besides.

-- How the tables below derive from an event, in one place for the batch writer, the backfill below
-- and warehouse-sync's rebuild.
CREATE OR REPLACE FUNCTION lakehouse_referrer_host(referrer text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT lower(substring(referrer FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')) $$;

-- The step of a `funnel_step` event, or NULL when its properties do not name one (the api
-- validates them; a message from elsewhere must not fail the batch with a bad cast).
CREATE OR REPLACE FUNCTION lakehouse_funnel_step(properties jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN jsonb_typeof(properties->'funnel') = 'string'
                   AND properties->>'step' ~ '^[1-9][0-9]{0,8}$'
              THEN (properties->>'step')::integer END $$;

-- Breakdowns per hour: top pages, referrers, browsers, operating systems, devices, countries, by
-- event type (page views per page, conversions per referrer, ...). `dimension` is one of
-- 'path', 'referrer_host', 'browser', 'os', 'device_type', 'country'; absent values are not counted.
CREATE TABLE IF NOT EXISTS event_dimensions_hourly (
    bucket     timestamptz      NOT NULL,
    project_id text             NOT NULL,
    event_type text             NOT NULL,
    dimension  text             NOT NULL,
    value      text             NOT NULL,
    events     bigint           NOT NULL,
    value_sum  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, project_id, event_type, dimension, value)
);

-- Who was there each hour, as a set so that unique counts are exact: `kind` is 'visitor'
-- (`visitor_id`, which the api salts per day, so a day's uniques are the distinct ids over its
-- hours) or 'session' (`session_id`, counted also for events that carry no visitor id).
CREATE TABLE IF NOT EXISTS unique_ids_hourly (
    bucket     timestamptz NOT NULL,
    project_id text        NOT NULL,
    kind       text        NOT NULL,
    id         text        NOT NULL,
    PRIMARY KEY (project_id, kind, bucket, id)
);

-- The steps of each funnel every session reached, with when it first reached them: a funnel
-- panel counts the sessions per step (and may require the earlier steps) over any time range.
CREATE TABLE IF NOT EXISTS funnel_progress (
    project_id text        NOT NULL,
    funnel     text        NOT NULL,
    step       integer     NOT NULL,
    session_id text        NOT NULL,
    first_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, funnel, step, session_id)
);
CREATE INDEX IF NOT EXISTS funnel_progress_first_at ON funnel_progress (project_id, funnel, first_at);

-- Raw events are deleted by arrival time (see the retention job), which also makes the
-- deduplication window the retention period.
CREATE INDEX IF NOT EXISTS events_received_at ON events (received_at);

-- A database that already holds events gets their breakdowns now, as 0002 did for the rollups.
INSERT INTO event_dimensions_hourly (bucket, project_id, event_type, dimension, value, events, value_sum)
SELECT date_trunc('hour', e."timestamp"), e.project_id, e.event_type, d.dimension, d.value, count(*),
       coalesce(sum(e.value), 0)
FROM events e
CROSS JOIN LATERAL (VALUES
    ('path', e.path),
    ('referrer_host', lakehouse_referrer_host(e.referrer)),
    ('browser', e.browser),
    ('os', e.os),
    ('device_type', e.device_type),
    ('country', e.country)) AS d(dimension, value)
WHERE d.value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (bucket, project_id, event_type, dimension, value) DO NOTHING;

INSERT INTO unique_ids_hourly (bucket, project_id, kind, id)
SELECT DISTINCT date_trunc('hour', e."timestamp"), e.project_id, u.kind, u.id
FROM events e
CROSS JOIN LATERAL (VALUES ('visitor', e.visitor_id), ('session', e.session_id)) AS u(kind, id)
WHERE u.id IS NOT NULL
ON CONFLICT DO NOTHING;

INSERT INTO funnel_progress (project_id, funnel, step, session_id, first_at)
SELECT project_id, properties->>'funnel', lakehouse_funnel_step(properties), session_id, min("timestamp")
FROM events
WHERE event_type = 'funnel_step' AND lakehouse_funnel_step(properties) IS NOT NULL
GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;
