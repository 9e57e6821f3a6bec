-- Green Button export: the stored 15-minute days of one ESIID as an ESPI 4.0 Atom feed (both
-- channels, exact scaled integers, estimated intervals flagged, missing ones absent), valid
-- against the official schema; `smt export green-button` writes the same text to a file.

CREATE FUNCTION smt.green_button(esiid text, first_day date, last_day date) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    normalized text := smt.esiid_normalize(green_button.esiid);
    out text;
BEGIN
    IF first_day IS NULL OR last_day IS NULL OR first_day > last_day OR normalized IS NULL THEN
        RAISE EXCEPTION 'smt.green_button needs an ESIID and first_day <= last_day'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT smt.green_button(''10443720000000001'', date ''2025-09-01'', date ''2025-09-30'');';
    END IF;
    SELECT smt._green_button_feed(normalized, 'ESIID ' || normalized, max(d.revision),
                                  array_agg(d.channel ORDER BY d.channel, d.day),
                                  array_agg(d.day ORDER BY d.channel, d.day),
                                  array_agg(d.revision ORDER BY d.channel, d.day),
                                  array_agg(d.kwh_list ORDER BY d.channel, d.day),
                                  array_agg(d.status_list ORDER BY d.channel, d.day))
      INTO out
      FROM (SELECT i.channel, i.day, i.revision,
                   string_agg(coalesce(i.kwh::text, ''), ',' ORDER BY i.interval_start) AS kwh_list,
                   string_agg(coalesce(i.status, '-'), '' ORDER BY i.interval_start) AS status_list
              FROM smt.interval i
             WHERE i.esiid = normalized AND i.day BETWEEN first_day AND last_day AND i.channel IN (1, 4)
               AND i.interval_end - i.interval_start = interval '15 minutes'
             GROUP BY i.channel, i.day, i.revision) d
    HAVING count(*) > 0;
    IF out IS NULL THEN
        RAISE EXCEPTION 'smt.green_button: no 15-minute data of ESIID % from % to %', normalized, first_day, last_day
            USING ERRCODE = 'no_data_found', HINT = 'See smt.daily_usage for the days held.';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION smt.green_button(text, date, date) IS 'The 15-minute data of an ESIID over operating days first_day to last_day (load channel 4 and generation channel 1) as a Green Button (NAESB ESPI 4.0) Atom feed: Wh scaled to exact integers, estimated intervals with ReadingQuality 8, US Central local time parameters. It validates against the official schema and loads back (smt.load) to the same data.';

COMMENT ON FUNCTION smt._green_button_feed(text, text, timestamptz, smallint[], date[], timestamptz[], text[], text[]) IS 'Writes the ESPI feed of smt.green_button from the days it gathers (parallel arrays: channel, day, revision, values as text joined by commas, statuses). Internal to smt.green_button.';
