-- Reports for people and BI tools, read from what is kept at load time (smt.day_total, the daily
-- meter reads, the version history), never by unnesting every interval of every meter.

CREATE VIEW smt.monthly_usage_summary WITH (security_invoker = true) AS
SELECT m.esiid, m.month, m.days, m.import_kwh, m.export_kwh, m.net_kwh, m.intervals_expected,
       m.intervals_present, m.intervals_estimated, m.intervals_missing,
       m.peak[1] AS peak_kw,
       to_timestamp(-m.peak[2]) AS peak_start,
       to_timestamp(-m.peak[2]) AT TIME ZONE 'America/Chicago' AS peak_start_local
  FROM (SELECT t.esiid,
               date_trunc('month', t.day)::date AS month,
               count(*)::integer AS days,
               sum(t.import_kwh) AS import_kwh,
               sum(t.export_kwh) AS export_kwh,
               coalesce(sum(t.import_kwh), 0) - coalesce(sum(t.export_kwh), 0) AS net_kwh,
               sum(t.intervals_expected)::integer AS intervals_expected,
               sum(t.intervals_present)::integer AS intervals_present,
               sum(t.intervals_estimated)::integer AS intervals_estimated,
               sum(t.intervals_expected - t.intervals_present)::integer AS intervals_missing,
               -- the largest peak, the earliest of equal ones: arrays compare element by element,
               -- so one max() finds both without sorting the month's days
               max(ARRAY[t.peak_kw, -extract(epoch FROM t.peak_start)]) FILTER (WHERE t.peak_kw IS NOT NULL) AS peak
          FROM smt.day_total t
         GROUP BY t.esiid, date_trunc('month', t.day)) m;
COMMENT ON VIEW smt.monthly_usage_summary IS 'Per ESIID and calendar month (of operating days, Central prevailing time) with data: kWh imported, exported and net, exact; the load intervals expected, present, estimated and missing; the peak 15-minute demand and when it began. Reads the daily totals kept at load time (smt.day_total), never the intervals.';
COMMENT ON COLUMN smt.monthly_usage_summary.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_usage_summary.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.monthly_usage_summary.days IS 'Operating days of the month with data.';
COMMENT ON COLUMN smt.monthly_usage_summary.import_kwh IS 'Sum of channel 4 (consumption) kWh, exact.';
COMMENT ON COLUMN smt.monthly_usage_summary.export_kwh IS 'Sum of channel 1 (surplus generation) kWh, exact; NULL without generation data.';
COMMENT ON COLUMN smt.monthly_usage_summary.net_kwh IS 'import_kwh minus export_kwh.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_expected IS 'Load intervals the days with data should have (96, 92 or 100 a day).';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_present IS 'Load intervals with a value.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_estimated IS 'Load intervals marked E (estimated).';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_kw IS 'Peak demand, kW: the month''s largest consumption interval''s kWh × intervals an hour (× 4 at 15 minutes), exact; NULL without consumption values.';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_start IS 'When the peak interval began (an instant; the first, if the peak repeats).';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_start_local IS 'When the peak interval began, Central wall-clock time.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_missing IS 'intervals_expected minus intervals_present (days without any data are not counted: see smt.completeness and smt.meter_status).';

-- The sum check of VEE: a day's intervals against the meter's own register.
CREATE VIEW smt.meter_check WITH (security_invoker = true) AS
SELECT r.esiid,
       r.day,
       t.import_kwh AS interval_kwh,
       r.end_reading - r.start_reading AS register_kwh,
       t.import_kwh - (r.end_reading - r.start_reading) AS difference_kwh,
       coalesce(nullif(current_setting('smt.meter_check_tolerance_kwh', true), '')::numeric, 0.01) AS tolerance_kwh,
       t.intervals_present::integer AS intervals_present,
       (t.intervals_expected - t.intervals_present)::integer AS intervals_missing,
       abs(t.import_kwh - (r.end_reading - r.start_reading))
           <= coalesce(nullif(current_setting('smt.meter_check_tolerance_kwh', true), '')::numeric, 0.01) AS agrees
  FROM smt.daily_read r
  JOIN smt.day_total t ON t.esiid = r.esiid AND t.day = r.day
 WHERE r.start_reading IS NOT NULL AND r.end_reading IS NOT NULL AND t.import_kwh IS NOT NULL;
COMMENT ON VIEW smt.meter_check IS 'Each ESIID-day with both 15-minute data and a daily meter read: the sum of the day''s consumption intervals against the register''s difference (end reading minus start reading), and whether they agree within smt.meter_check_tolerance_kwh (default 0.01 kWh). Read smt.meter_check_failures for the days that do not.';
COMMENT ON COLUMN smt.meter_check.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_check.day IS 'Operating day.';
COMMENT ON COLUMN smt.meter_check.interval_kwh IS 'Sum of the day''s channel 4 intervals (smt.day_total), exact.';
COMMENT ON COLUMN smt.meter_check.register_kwh IS 'end_reading minus start_reading of the day''s meter read, exact.';
COMMENT ON COLUMN smt.meter_check.difference_kwh IS 'interval_kwh minus register_kwh.';
COMMENT ON COLUMN smt.meter_check.tolerance_kwh IS 'The tolerance applied: the setting smt.meter_check_tolerance_kwh, default 0.01.';
COMMENT ON COLUMN smt.meter_check.intervals_present IS 'Channel 4 intervals with a value that day.';
COMMENT ON COLUMN smt.meter_check.intervals_missing IS 'Channel 4 intervals the day lacks (a missing interval makes the sum short).';
COMMENT ON COLUMN smt.meter_check.agrees IS 'True when |difference_kwh| <= tolerance_kwh.';

CREATE VIEW smt.meter_check_failures WITH (security_invoker = true) AS
SELECT * FROM smt.meter_check WHERE NOT agrees;
COMMENT ON VIEW smt.meter_check_failures IS 'The days of smt.meter_check whose intervals and register disagree beyond the tolerance.';
COMMENT ON COLUMN smt.meter_check_failures.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_check_failures.day IS 'Operating day.';
COMMENT ON COLUMN smt.meter_check_failures.interval_kwh IS 'Sum of the day''s channel 4 intervals, exact.';
COMMENT ON COLUMN smt.meter_check_failures.register_kwh IS 'end_reading minus start_reading, exact.';
COMMENT ON COLUMN smt.meter_check_failures.difference_kwh IS 'interval_kwh minus register_kwh.';
COMMENT ON COLUMN smt.meter_check_failures.tolerance_kwh IS 'The tolerance applied.';
COMMENT ON COLUMN smt.meter_check_failures.intervals_present IS 'Channel 4 intervals with a value that day.';
COMMENT ON COLUMN smt.meter_check_failures.intervals_missing IS 'Channel 4 intervals the day lacks.';
COMMENT ON COLUMN smt.meter_check_failures.agrees IS 'Always false here.';

-- Estimated intervals a later version replaced with actual ones, from the version history.
CREATE VIEW smt.estimates_replaced WITH (security_invoker = true) AS
SELECT v.esiid,
       v.channel,
       v.day,
       v.revision AS estimated_revision,
       d.revision AS current_revision,
       (SELECT count(*) FROM generate_series(1, least(length(v.status), length(d.status))) i
         WHERE substr(v.status, i, 1) = 'E' AND substr(d.status, i, 1) = 'A')::integer AS intervals_now_actual
  FROM smt.interval_version v
  JOIN smt.interval_day d ON d.esiid = v.esiid AND d.channel = v.channel AND d.day = v.day
 -- replaced by a newer version, or (same revision) lost to one with more actual readings
 WHERE (v.outcome = 'replaced' OR (v.outcome = 'conflict_lost' AND v.file_id <> v.decided_by_file_id))
   AND v.interval_seconds = d.interval_seconds AND strpos(v.status, 'E') > 0
   AND EXISTS (SELECT FROM generate_series(1, least(length(v.status), length(d.status))) i
                WHERE substr(v.status, i, 1) = 'E' AND substr(d.status, i, 1) = 'A');
COMMENT ON VIEW smt.estimates_replaced IS 'Each earlier version of an ESIID-channel-day (replaced by a newer revision, or losing a same-revision tie to a later file) that held estimated intervals which the current version holds as actual readings: how many became actual.';
COMMENT ON COLUMN smt.estimates_replaced.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.estimates_replaced.channel IS 'ERCOT channel.';
COMMENT ON COLUMN smt.estimates_replaced.day IS 'Operating day.';
COMMENT ON COLUMN smt.estimates_replaced.estimated_revision IS 'Revision of the replaced version that held the estimates.';
COMMENT ON COLUMN smt.estimates_replaced.current_revision IS 'Revision of the current version.';
COMMENT ON COLUMN smt.estimates_replaced.intervals_now_actual IS 'Intervals estimated in that version and actual in the current one.';

COMMENT ON FUNCTION smt._day_hours(timestamptz, integer, smallint, smallint[], integer[], numeric[]) IS 'A stored day''s consumption per hour ending (Central clock), from its storage columns: 24 scaled integers, element h the units of hour ending h (NULL for an hour without a value); kWh = units × 10^-scale, scale being the day''s (smt._day_hour_scale). The fall-back day''s repeated hour counts in hour 2.';

-- The scale of smt._day_hours's units: the day's own, or for a day kept as exact numerics the
-- largest scale of its values (smt-core's day_profile::hour_totals sums them at that scale). Two
-- functions so that the first, called for every stored day, stays inlinable (a sub-select would
-- make it a function call a row, slower than the rest of the report).
CREATE FUNCTION smt._max_scale(kwh_exact numeric[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((SELECT max(pg_catalog.scale(x)) FROM unnest(kwh_exact) x), 0);
COMMENT ON FUNCTION smt._max_scale(numeric[]) IS 'The largest decimal scale of the values of a numeric array (0 without values).';
CREATE FUNCTION smt._day_hour_scale(scale smallint, kwh_exact numeric[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN kwh_exact IS NULL THEN scale ELSE smt._max_scale(kwh_exact) END;
COMMENT ON FUNCTION smt._day_hour_scale(smallint, numeric[]) IS 'Decimal scale of the hour units smt._day_hours gives for a stored day: its scale, or the largest scale of its kwh_exact values.';

-- Consumption per ESIID, day and local hour: each stored day's hour totals come from one call of
-- smt._day_hours over its stored values (an array of 24 integers, never a row per interval). The
-- hour's units and their scale stand beside kwh so that the reports below sum integers and make
-- kWh once a group: a column a query does not select is not computed.
CREATE VIEW smt.hourly_usage WITH (security_invoker = true) AS
SELECT d.esiid,
       d.day,
       h.hour_ending::smallint AS hour_ending,
       CASE WHEN extract(isodow FROM d.day) IN (6, 7) THEN 'weekend' ELSE 'weekday' END AS day_type,
       round(h.units / (10::numeric ^ sc.scale), sc.scale) AS kwh,
       h.units AS kwh_units,
       sc.scale AS kwh_scale
  FROM smt.interval_day d
 CROSS JOIN LATERAL (SELECT smt._day_hour_scale(d.scale, d.kwh_exact) AS scale) sc
 CROSS JOIN LATERAL unnest(smt._day_hours(d.first_start, d.interval_seconds, d.scale, d.units16, d.units, d.kwh_exact))
       WITH ORDINALITY AS h(units, hour_ending)
 WHERE d.channel = 4 AND h.units IS NOT NULL;
COMMENT ON VIEW smt.hourly_usage IS 'Consumption per ESIID, operating day and hour ending (Central clock, as ERCOT writes it), exact: one row per hour with a value (23 on the spring-forward day, whose hour ending 3 does not exist; the fall-back day''s two passes of 01:00 are one hour ending 2). Filter by ESIID and day.';
COMMENT ON COLUMN smt.hourly_usage.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.hourly_usage.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.hourly_usage.hour_ending IS 'Hour ending, 1 to 24.';
COMMENT ON COLUMN smt.hourly_usage.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_usage.kwh IS 'Consumption of the hour''s intervals with a value, kWh, exact.';
COMMENT ON COLUMN smt.hourly_usage.kwh_units IS 'kwh as a scaled integer: kwh = kwh_units × 10^-kwh_scale (what the reports sum).';
COMMENT ON COLUMN smt.hourly_usage.kwh_scale IS 'Decimal scale of kwh_units.';

-- Per ESIID and month: integers summed per scale (one scale for nearly every day), made kWh once
-- a group.
CREATE VIEW smt.hourly_profile WITH (security_invoker = true) AS
SELECT esiid, month, day_type, hour_ending,
       sum(days)::integer AS days,
       sum(kwh) AS total_kwh,
       sum(kwh) / sum(days) AS kwh_per_day
  FROM (SELECT u.esiid, date_trunc('month', u.day)::date AS month, u.day_type, u.hour_ending,
               count(*) AS days,
               round(sum(u.kwh_units) / (10::numeric ^ u.kwh_scale), u.kwh_scale) AS kwh
          FROM smt.hourly_usage u
         GROUP BY u.esiid, date_trunc('month', u.day), u.day_type, u.hour_ending, u.kwh_scale) per_scale
 GROUP BY esiid, month, day_type, hour_ending;
COMMENT ON VIEW smt.hourly_profile IS 'Per ESIID, calendar month (of operating days), day type (weekday or weekend) and hour ending (Central clock, as ERCOT writes it): consumption kWh in all and per day, exact. Sum over months for a season or a year; filter by ESIID for one meter.';
COMMENT ON COLUMN smt.hourly_profile.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.hourly_profile.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.hourly_profile.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_profile.hour_ending IS 'Hour ending, 1 to 24 (the fall-back day''s repeated hour counts in hour 2; the spring-forward day has no hour 3).';
COMMENT ON COLUMN smt.hourly_profile.days IS 'Days of the month and day type with a value in that hour.';
COMMENT ON COLUMN smt.hourly_profile.total_kwh IS 'Sum of the hour''s consumption kWh over those days, exact.';
COMMENT ON COLUMN smt.hourly_profile.kwh_per_day IS 'total_kwh divided by days.';

-- The same for all meters together (a system or portfolio load shape).
CREATE VIEW smt.hourly_load_shape WITH (security_invoker = true) AS
SELECT month, day_type, hour_ending,
       sum(esiid_days)::bigint AS esiid_days,
       sum(kwh) AS total_kwh
  FROM (SELECT date_trunc('month', u.day)::date AS month, u.day_type, u.hour_ending,
               count(*) AS esiid_days,
               round(sum(u.kwh_units) / (10::numeric ^ u.kwh_scale), u.kwh_scale) AS kwh
          FROM smt.hourly_usage u
         GROUP BY date_trunc('month', u.day), u.day_type, u.hour_ending, u.kwh_scale) per_scale
 GROUP BY month, day_type, hour_ending;
COMMENT ON VIEW smt.hourly_load_shape IS 'Consumption of all meters together per calendar month (of operating days), day type and hour ending (Central clock): the load shape of the whole portfolio, exact. Filter by month.';
COMMENT ON COLUMN smt.hourly_load_shape.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.hourly_load_shape.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_load_shape.hour_ending IS 'Hour ending, 1 to 24, as in smt.hourly_profile.';
COMMENT ON COLUMN smt.hourly_load_shape.esiid_days IS 'ESIID-days with a value in that hour.';
COMMENT ON COLUMN smt.hourly_load_shape.total_kwh IS 'Sum of the hour''s consumption kWh over all of them, exact.';
