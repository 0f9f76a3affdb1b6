-- Contract version 2's campaign attribution (DESIGN.md §5.1): five nullable columns on the raw
-- events, and `utm_source` and `utm_campaign` as breakdown dimensions (conversions by campaign).
-- Events stored before hold no campaign, so nothing is backfilled: their columns read as NULL and
-- they have no campaign breakdown rows.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS utm_source   text,
    ADD COLUMN IF NOT EXISTS utm_medium   text,
    ADD COLUMN IF NOT EXISTS utm_campaign text,
    ADD COLUMN IF NOT EXISTS utm_term     text,
    ADD COLUMN IF NOT EXISTS utm_content  text;

-- The breakdown dimensions of one event with its campaign: 0004's six and the campaign's two.
CREATE OR REPLACE FUNCTION lakehouse_dimensions(
    path text, referrer text, browser text, os text, device_type text, country text,
    utm_source text, utm_campaign text)
RETURNS TABLE (dimension text, value text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT d.dimension, d.value
    FROM (VALUES
        ('path', path),
        ('referrer_host', lakehouse_referrer_host(referrer)),
        ('browser', browser),
        ('os', os),
        ('device_type', device_type),
        ('country', country),
        ('utm_source', utm_source),
        ('utm_campaign', utm_campaign)) AS d(dimension, value)
    WHERE d.value IS NOT NULL
$$;

-- 0004's six-argument form stays for a processor of contract version 1 still running during an
-- upgrade (its events carry no campaign), now defined by the one above.
CREATE OR REPLACE FUNCTION lakehouse_dimensions(
    path text, referrer text, browser text, os text, device_type text, country text)
RETURNS TABLE (dimension text, value text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT * FROM lakehouse_dimensions(path, referrer, browser, os, device_type, country, NULL::text, NULL::text) $$;
