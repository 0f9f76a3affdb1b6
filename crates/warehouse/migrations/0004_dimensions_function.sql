-- The breakdown dimensions of one event, in one place for the batch writer, warehouse-sync and
-- the checks (0003 spelled them out in its backfill before this function existed).
CREATE OR REPLACE FUNCTION lakehouse_dimensions(
    path text, referrer text, browser text, os text, device_type text, country text)
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
        ('country', country)) AS d(dimension, value)
    WHERE d.value IS NOT NULL
$$;
