-- Raw events, one row per event_id: a client retry that posts the same event again is stored once.
CREATE TABLE IF NOT EXISTS events (
    event_id          uuid PRIMARY KEY,
    project_id        text             NOT NULL,
    event_type        text             NOT NULL,
    event_name        text,
    session_id        text             NOT NULL,
    user_id           text,
    visitor_id        text,
    "timestamp"       timestamptz      NOT NULL,
    timestamp_clamped boolean          NOT NULL DEFAULT false,
    sent_at           timestamptz,
    received_at       timestamptz      NOT NULL,
    url               text,
    host              text,
    path              text,
    referrer          text,
    title             text,
    value             double precision,
    properties        jsonb            NOT NULL DEFAULT '{}'::jsonb,
    browser           text,
    os                text,
    device_type       text,
    country           text,
    schema_version    smallint         NOT NULL,
    kafka_partition   integer          NOT NULL,
    kafka_offset      bigint           NOT NULL,
    ingested_at       timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS events_project_time ON events (project_id, "timestamp");

-- Where each consumer group stands in each partition: the offset of the next message to read,
-- written in the same transaction as the events it covers.
CREATE TABLE IF NOT EXISTS kafka_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
