-- Reports for people and BI tools, read from what is kept at load time (smt.day_total, the daily
-- meter reads, the version history), never by unnesting every interval of every meter.

CREATE VIEW smt.monthly_usage_summary WITH (security_invoker = true) AS
SELECT t.esiid,
       date_trunc('month', t.day)::date AS month,
       count(*)::integer AS days,
       sum(t.import_kwh) AS import_kwh,
       sum(t.export_kwh) AS export_kwh,
       coalesce(sum(t.import_kwh), 0) - coalesce(sum(t.export_kwh), 0) AS net_kwh,
       sum(t.intervals_expected)::integer AS intervals_expected,
       sum(t.intervals_present)::integer AS intervals_present,
       sum(t.intervals_estimated)::integer AS intervals_estimated,
       sum(t.intervals_expected - t.intervals_present)::integer AS intervals_missing
  FROM smt.day_total t
 GROUP BY t.esiid, date_trunc('month', t.day);
COMMENT ON VIEW smt.monthly_usage_summary IS 'Per ESIID and calendar month (of operating days, Central prevailing time) with data: kWh imported, exported and net, exact, and the load intervals expected, present, estimated and missing. Sums the daily totals kept at load time (smt.day_total).';
COMMENT ON COLUMN smt.monthly_usage_summary.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_usage_summary.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.monthly_usage_summary.days IS 'Operating days of the month with data.';
COMMENT ON COLUMN smt.monthly_usage_summary.import_kwh IS 'Sum of channel 4 (consumption) kWh, exact.';
COMMENT ON COLUMN smt.monthly_usage_summary.export_kwh IS 'Sum of channel 1 (surplus generation) kWh, exact; NULL without generation data.';
COMMENT ON COLUMN smt.monthly_usage_summary.net_kwh IS 'import_kwh minus export_kwh.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_expected IS 'Load intervals the days with data should have (96, 92 or 100 a day).';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_present IS 'Load intervals with a value.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_estimated IS 'Load intervals marked E (estimated).';
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

-- From the intervals themselves: fast for the ESIIDs a query names (the ESIID filter reaches the
-- stored days), a scan of every interval for all meters (not kept at load time).
CREATE VIEW smt.monthly_peak_demand WITH (security_invoker = true) AS
SELECT DISTINCT ON (i.esiid, date_trunc('month', i.day))
       i.esiid,
       date_trunc('month', i.day)::date AS month,
       -- intervals an hour: 4 at 15 minutes (SMT's lengths all divide the hour), so kW stay exact
       i.kwh * (3600 / extract(epoch FROM i.interval_end - i.interval_start)::integer) AS peak_kw,
       i.kwh AS peak_kwh,
       i.interval_start AS peak_start,
       i.interval_start_local AS peak_start_local,
       i.status AS peak_status
  FROM smt.interval i
 WHERE i.channel = 4 AND i.kwh IS NOT NULL
 ORDER BY i.esiid, date_trunc('month', i.day),
          i.kwh * (3600 / extract(epoch FROM i.interval_end - i.interval_start)::integer) DESC, i.interval_start;
COMMENT ON VIEW smt.monthly_peak_demand IS 'Per ESIID and calendar month: the largest consumption interval as demand in kW (its kWh × intervals an hour) and when it began (the first such interval if it repeats). Reads the intervals: filter by ESIID.';
COMMENT ON COLUMN smt.monthly_peak_demand.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_peak_demand.month IS 'First day of the calendar month (of operating days).';
COMMENT ON COLUMN smt.monthly_peak_demand.peak_kw IS 'Peak 15-minute demand, kW: the interval''s kWh × 4, exact.';
COMMENT ON COLUMN smt.monthly_peak_demand.peak_kwh IS 'That interval''s kWh.';
COMMENT ON COLUMN smt.monthly_peak_demand.peak_start IS 'When that interval began (an instant).';
COMMENT ON COLUMN smt.monthly_peak_demand.peak_start_local IS 'When it began, Central wall-clock time.';
COMMENT ON COLUMN smt.monthly_peak_demand.peak_status IS 'A actual, E estimated.';

CREATE VIEW smt.hourly_profile WITH (security_invoker = true) AS
SELECT i.esiid,
       i.hour_ending,
       CASE WHEN extract(isodow FROM i.day) IN (6, 7) THEN 'weekend' ELSE 'weekday' END AS day_type,
       count(DISTINCT i.day) FILTER (WHERE i.kwh IS NOT NULL)::integer AS days,
       sum(i.kwh) AS total_kwh,
       sum(i.kwh) / nullif(count(DISTINCT i.day) FILTER (WHERE i.kwh IS NOT NULL), 0) AS kwh_per_day,
       count(i.kwh)::integer AS intervals_present
  FROM smt.interval i
 WHERE i.channel = 4
 GROUP BY i.esiid, i.hour_ending, CASE WHEN extract(isodow FROM i.day) IN (6, 7) THEN 'weekend' ELSE 'weekday' END;
COMMENT ON VIEW smt.hourly_profile IS 'Per ESIID, hour ending (Central clock, as ERCOT writes it) and day type (weekday or weekend): consumption kWh in all and per day, exact. Reads the intervals: filter by ESIID (and day, through smt.interval, for a season).';
COMMENT ON COLUMN smt.hourly_profile.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.hourly_profile.hour_ending IS 'Hour ending, 1 to 24 (the fall-back day''s repeated hour counts in hour 2).';
COMMENT ON COLUMN smt.hourly_profile.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_profile.days IS 'Days with data in that hour.';
COMMENT ON COLUMN smt.hourly_profile.total_kwh IS 'Sum of the hour''s consumption kWh over those days, exact.';
COMMENT ON COLUMN smt.hourly_profile.kwh_per_day IS 'total_kwh divided by days.';
COMMENT ON COLUMN smt.hourly_profile.intervals_present IS 'Intervals with a value in that hour over those days.';
