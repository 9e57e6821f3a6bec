-- Views for people and BI tools. Instants are timestamptz (UTC inside; shown in the session's
-- TimeZone); operating days are Central prevailing time; kWh are exact numerics.

CREATE VIEW smt.interval WITH (security_invoker = true) AS
SELECT d.esiid,
       d.channel,
       d.day,
       d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds) AS interval_start,
       d.first_start + make_interval(secs => v.i * d.interval_seconds) AS interval_end,
       -- units × 10^-scale, exactly and with the day's scale (580 at scale 3 is 0.580)
       coalesce(v.kwh_exact, coalesce(v.units16, v.units) * f.unit) AS kwh,
       nullif(v.status, '-') AS status,
       d.revision,
       -- Central wall-clock time, as ERCOT and SMT write it (computed only when selected)
       (d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds)) AT TIME ZONE 'America/Chicago'
           AS interval_start_local,
       (extract(hour FROM (d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds))
                         AT TIME ZONE 'America/Chicago') + 1)::smallint AS hour_ending
  FROM smt.interval_day d
 -- computed once per day, not per interval
 CROSS JOIN LATERAL (SELECT round(1 / (10::numeric ^ d.scale), d.scale) AS unit) f
 -- one row per status character (every interval, missing ones included); the value arrays are
 -- as long, and only one of them is not NULL
 CROSS JOIN LATERAL unnest(string_to_array(d.status, NULL), d.units16, d.units, d.kwh_exact)
       WITH ORDINALITY AS v(status, units16, units, kwh_exact, i);
COMMENT ON VIEW smt.interval IS 'One row per interval of the current version of each ESIID-channel-day, missing intervals included (kwh and status NULL).';
COMMENT ON COLUMN smt.interval.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.interval.channel IS 'ERCOT channel: 4 load (consumption), 1 generation (surplus).';
COMMENT ON COLUMN smt.interval.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.interval.interval_start IS 'Start of the interval (an instant; elapsed time from local midnight, so DST days are right).';
COMMENT ON COLUMN smt.interval.interval_end IS 'End of the interval.';
COMMENT ON COLUMN smt.interval.kwh IS 'Energy in the interval, kWh, exactly as delivered; NULL when missing.';
COMMENT ON COLUMN smt.interval.status IS 'A actual, E estimated; NULL when missing.';
COMMENT ON COLUMN smt.interval.revision IS 'Revision timestamp of the version this interval comes from.';
COMMENT ON COLUMN smt.interval.interval_start_local IS 'Start of the interval in Central wall-clock time (timestamp without time zone): on the fall-back day the 01:00 hour appears twice, on the spring-forward day 02:00 not at all.';
COMMENT ON COLUMN smt.interval.hour_ending IS 'Hour ending as ERCOT writes it: the Central clock hour the interval starts in, plus one (1 to 24; on the fall-back day both passes of 01:00 are hour 2).';

-- Spreads any source intervals over the UTC 15-minute grid by overlap. Each source interval's kWh
-- is shared in proportion to overlap; the last slot of each source takes the remainder, so the
-- slots of a source always add up to exactly its kWh even when a share does not terminate.
-- What smt.normalize_15min accepts: as many ends and kWh values as starts, finite instants, source
-- intervals of at most 45 days (a billing period) and at most 1,000,000 15-minute slots in all
-- (28 years of one meter), so that no argument can make it run for minutes or pad silently.
CREATE FUNCTION smt._normalize_15min_check(starts timestamptz[], ends timestamptz[], kwh numeric[])
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(array_length(starts, 1), 0);
    slots numeric;
BEGIN
    IF coalesce(array_length(ends, 1), 0) <> n OR coalesce(array_length(kwh, 1), 0) <> n THEN
        RAISE EXCEPTION 'smt.normalize_15min needs one end and one kWh value for each start'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s starts, %s ends, %s kWh values', n,
                                  coalesce(array_length(ends, 1), 0), coalesce(array_length(kwh, 1), 0));
    END IF;
    IF EXISTS (SELECT FROM unnest(starts, ends) u(s, e) WHERE NOT isfinite(s) OR NOT isfinite(e)) THEN
        RAISE EXCEPTION 'smt.normalize_15min takes finite instants only'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave out intervals with an infinite start or end.';
    END IF;
    IF EXISTS (SELECT FROM unnest(starts, ends) u(s, e) WHERE e - s > interval '45 days') THEN
        RAISE EXCEPTION 'smt.normalize_15min takes source intervals of at most 45 days'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Split longer periods (a billing period is at most about 35 days).';
    END IF;
    SELECT coalesce(sum(ceil(extract(epoch FROM u.e - u.s) / 900) + 1), 0) INTO slots
      FROM unnest(starts, ends) u(s, e) WHERE u.e > u.s;
    IF slots > 1000000 THEN
        RAISE EXCEPTION 'smt.normalize_15min would make % slots, more than 1,000,000', slots
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Normalize a meter''s data a year or so at a time.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt._normalize_15min_check(timestamptz[], timestamptz[], numeric[]) IS
'Checks the arguments of smt.normalize_15min (equal lengths, finite instants, sources of at most 45 days, at most 1,000,000 slots) and raises a clear error otherwise.';

CREATE FUNCTION smt.normalize_15min(starts timestamptz[], ends timestamptz[], kwh numeric[])
RETURNS TABLE (interval_start timestamptz, interval_end timestamptz, kwh numeric, coverage numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH src AS (
        SELECT u.n, u.s, u.e, u.k, extract(epoch FROM u.e - u.s) AS secs
          FROM unnest(starts, ends, kwh) WITH ORDINALITY AS u(s, e, k, n)
         WHERE smt._normalize_15min_check(starts, ends, kwh) AND u.e > u.s AND u.k IS NOT NULL
    ), pieces AS (
        SELECT src.n, src.k, g AS slot,
               extract(epoch FROM least(src.e, g + interval '15 minutes') - greatest(src.s, g)) AS overlap,
               src.secs,
               row_number() OVER (PARTITION BY src.n ORDER BY g DESC) = 1 AS last_piece
          FROM src
         CROSS JOIN LATERAL generate_series(
               date_bin(interval '15 minutes', src.s, timestamptz '2000-01-01 00:00:00+00'),
               src.e - interval '1 microsecond', interval '15 minutes') AS g
    ), shares AS (
        SELECT p.n, p.slot, p.overlap, p.last_piece,
               CASE WHEN p.last_piece THEN NULL
                    ELSE trunc(p.k * p.overlap / p.secs, scale(p.k) + 6) END AS share, p.k
          FROM pieces p
    ), settled AS (
        SELECT sh.slot, sh.overlap,
               coalesce(sh.share, sh.k - coalesce(sum(sh.share) OVER (PARTITION BY sh.n), 0)) AS share
          FROM shares sh
    )
    SELECT st.slot, st.slot + interval '15 minutes', sum(st.share), round(sum(st.overlap) / 900, 6)
      FROM settled st
     GROUP BY st.slot
     ORDER BY st.slot;
END;
COMMENT ON FUNCTION smt.normalize_15min(timestamptz[], timestamptz[], numeric[]) IS
'Spreads source intervals (any length, aligned or not) over the UTC 15-minute grid by overlap, exactly: each source''s shares add up to its kWh. coverage is the fraction of each slot covered by source data (may exceed 1 where sources overlap).';

CREATE VIEW smt.interval_15min WITH (security_invoker = true) AS
WITH direct AS (
    SELECT i.esiid, i.channel, i.interval_start, i.interval_end, i.kwh
      FROM smt.interval i
      JOIN smt.interval_day d USING (esiid, channel, day)
     WHERE d.interval_seconds = 900
), spread AS (
    -- A day at another interval length, spread over 15-minute slots (smt.normalize_15min). Its
    -- intervals come from the day's own row, as smt.interval computes them, not from a second read
    -- of smt.interval joined to it: Citus does not route such a self-join to the one shard that
    -- holds an ESIID (tests/citus/FINDINGS.md).
    SELECT d.esiid, d.channel, n.interval_start, n.interval_end, n.kwh
      FROM smt.interval_day d
     CROSS JOIN LATERAL (SELECT round(1 / (10::numeric ^ d.scale), d.scale) AS unit) f
     CROSS JOIN LATERAL (
           SELECT array_agg(d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds) ORDER BY v.i) AS s,
                  array_agg(d.first_start + make_interval(secs => v.i * d.interval_seconds) ORDER BY v.i) AS e,
                  array_agg(coalesce(v.kwh_exact, coalesce(v.units16, v.units) * f.unit) ORDER BY v.i) AS k
             FROM unnest(string_to_array(d.status, NULL), d.units16, d.units, d.kwh_exact)
                  WITH ORDINALITY AS v(status, units16, units, kwh_exact, i)) a
     CROSS JOIN LATERAL smt.normalize_15min(a.s, a.e, a.k) n
     WHERE d.interval_seconds <> 900
), slots AS (
    SELECT * FROM direct UNION ALL SELECT * FROM spread
)
SELECT esiid,
       interval_start,
       interval_end,
       sum(kwh) FILTER (WHERE channel = 4) AS import_kwh,
       sum(kwh) FILTER (WHERE channel = 1) AS export_kwh,
       sum(kwh) FILTER (WHERE channel = 4) - coalesce(sum(kwh) FILTER (WHERE channel = 1), 0) AS net_kwh
  FROM slots
 GROUP BY esiid, interval_start, interval_end;
COMMENT ON VIEW smt.interval_15min IS 'Per ESIID and UTC 15-minute slot: energy imported (channel 4), exported (channel 1) and net, with other interval lengths spread over the grid by smt.normalize_15min.';
COMMENT ON COLUMN smt.interval_15min.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.interval_15min.interval_start IS 'Start of the 15-minute slot.';
COMMENT ON COLUMN smt.interval_15min.interval_end IS 'End of the 15-minute slot.';
COMMENT ON COLUMN smt.interval_15min.import_kwh IS 'kWh delivered to the premises (channel 4); NULL when missing.';
COMMENT ON COLUMN smt.interval_15min.export_kwh IS 'kWh received from the premises (channel 1, surplus generation); NULL when none reported.';
COMMENT ON COLUMN smt.interval_15min.net_kwh IS 'import_kwh minus export_kwh (export missing counts as 0); NULL when import is missing.';

CREATE VIEW smt.daily_usage WITH (security_invoker = true) AS
SELECT t.esiid,
       t.day,
       t.import_kwh,
       t.export_kwh,
       coalesce(t.import_kwh, 0) - coalesce(t.export_kwh, 0) AS net_kwh,
       t.intervals_present::integer AS intervals_present,
       t.intervals_estimated::integer AS intervals_estimated,
       (t.intervals_expected - t.intervals_present)::integer AS intervals_missing
  FROM smt.day_total t;
COMMENT ON VIEW smt.daily_usage IS 'Per ESIID and operating day with load (channel 4) or generation (channel 1) data: kWh imported, exported and net, and how many load intervals are present, estimated and missing. Reads the totals kept at load time (smt.day_total), never the intervals.';
COMMENT ON COLUMN smt.daily_usage.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.daily_usage.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.daily_usage.import_kwh IS 'Sum of channel 4 (consumption) kWh, exact.';
COMMENT ON COLUMN smt.daily_usage.export_kwh IS 'Sum of channel 1 (surplus generation) kWh, exact; NULL without generation data.';
COMMENT ON COLUMN smt.daily_usage.net_kwh IS 'import_kwh minus export_kwh.';
COMMENT ON COLUMN smt.daily_usage.intervals_present IS 'Channel 4 intervals with a value.';
COMMENT ON COLUMN smt.daily_usage.intervals_estimated IS 'Channel 4 intervals marked E (estimated).';
COMMENT ON COLUMN smt.daily_usage.intervals_missing IS 'Channel 4 intervals the day should have (96, 92 or 100) but lacks.';

CREATE VIEW smt.completeness WITH (security_invoker = true) AS
SELECT d.esiid,
       d.channel,
       d.day,
       smt.day_slots(d.day, d.interval_seconds) AS intervals_expected,
       length(replace(d.status, '-', '')) AS intervals_present,
       smt.day_slots(d.day, d.interval_seconds) - length(replace(d.status, '-', '')) AS intervals_missing,
       d.revision,
       d.file_id
  FROM smt.interval_day d
 WHERE length(replace(d.status, '-', '')) < smt.day_slots(d.day, d.interval_seconds);
COMMENT ON VIEW smt.completeness IS 'ESIID-channel-days holding fewer intervals than the day should have (ERCOT''s missing consumption): gaps to chase or re-request.';
COMMENT ON COLUMN smt.completeness.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.completeness.channel IS 'ERCOT channel.';
COMMENT ON COLUMN smt.completeness.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.completeness.intervals_expected IS 'Intervals in the day: 96, or 92 / 100 on DST days (at 15 minutes).';
COMMENT ON COLUMN smt.completeness.intervals_present IS 'Intervals with a value.';
COMMENT ON COLUMN smt.completeness.intervals_missing IS 'intervals_expected minus intervals_present.';
COMMENT ON COLUMN smt.completeness.revision IS 'Revision of the stored version.';
COMMENT ON COLUMN smt.completeness.file_id IS 'File the stored version came from.';

CREATE VIEW smt.interval_versions WITH (security_invoker = true) AS
SELECT esiid, channel, day, revision, transaction_id, file_id, 'current'::text AS outcome, loaded_at,
       length(replace(status, '-', '')) AS intervals_present
  FROM smt.interval_day
UNION ALL
SELECT esiid, channel, day, revision, transaction_id, file_id, outcome, loaded_at,
       length(replace(status, '-', ''))
  FROM smt.interval_version;
COMMENT ON VIEW smt.interval_versions IS 'Every version received of every ESIID-channel-day (SMT''s version report): the current one and all others, with what became of each.';
COMMENT ON COLUMN smt.interval_versions.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.interval_versions.channel IS 'ERCOT channel.';
COMMENT ON COLUMN smt.interval_versions.day IS 'Operating day.';
COMMENT ON COLUMN smt.interval_versions.revision IS 'Revision timestamp of the version.';
COMMENT ON COLUMN smt.interval_versions.transaction_id IS 'LSE transaction id.';
COMMENT ON COLUMN smt.interval_versions.file_id IS 'File the version came from.';
COMMENT ON COLUMN smt.interval_versions.outcome IS 'current, replaced, stale, conflict_lost or superseded_in_file.';
COMMENT ON COLUMN smt.interval_versions.loaded_at IS 'When the version was stored or received.';
COMMENT ON COLUMN smt.interval_versions.intervals_present IS 'Intervals with a value in this version.';
