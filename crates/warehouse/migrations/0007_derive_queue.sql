-- The events a batch inserted whose derived rows are not added yet (DESIGN.md §7): the batch's
-- transaction appends them here with its events and offsets, and the fold adds them to the
-- derived tables and deletes them in one transaction of its own. No key and no index: rows are
-- only appended, and taken by their physical position.
CREATE TABLE IF NOT EXISTS events_to_derive (
    "timestamp"  timestamptz      NOT NULL,
    project_id   text             NOT NULL,
    event_type   text             NOT NULL,
    event_name   text,
    session_id   text             NOT NULL,
    visitor_id   text,
    path         text,
    referrer     text,
    browser      text,
    os           text,
    device_type  text,
    country      text,
    utm_source   text,
    utm_campaign text,
    value        double precision,
    properties   jsonb
);
