-- Daylight saving time. Operating days are Central prevailing time, so the spring-forward day
-- (2025-03-09: 02:00 CST jumps to 03:00 CDT) has 23 hours, 92 quarter-hours, and the fall-back
-- day (2025-11-02: 01:00-02:00 happens twice) has 25 hours, 100 quarter-hours.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS smt CASCADE;
RESET client_min_messages;
CREATE EXTENSION smt;

SELECT day, smt.day_slots(day) AS slots_15min, smt.day_slots(day, 3600) AS slots_hourly
  FROM (VALUES (date '2025-03-08'), ('2025-03-09'), ('2025-03-10'),
               ('2025-11-01'), ('2025-11-02'), ('2025-11-03')) AS v(day)
 ORDER BY day;

-- The rows SMT writes for one ESIID-day, by wall clock: the spring-forward day has no 02:00-02:45
-- rows, the fall-back day has 01:00-01:45 twice (first CDT, then CST). One row per instant of the day.
CREATE FUNCTION pg_temp.smt_csv(esiid text, day date, revision text, kwh numeric) RETURNS bytea
LANGUAGE sql AS $$
SELECT convert_to('ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,'
                  'ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION' || E'\n'
                  || string_agg(format('''%s,%s,%s,%s,%s,%s,A,Consumption', esiid, to_char(day, 'MM/DD/YYYY'),
                                       revision, to_char(s AT TIME ZONE 'America/Chicago', 'HH24:MI'),
                                       to_char((s + interval '15 minutes') AT TIME ZONE 'America/Chicago', 'HH24:MI'),
                                       kwh) || E'\n', '' ORDER BY s), 'UTF8')
  FROM generate_series(day::timestamp AT TIME ZONE 'America/Chicago',
                       (day + 1)::timestamp AT TIME ZONE 'America/Chicago' - interval '15 minutes',
                       interval '15 minutes') AS s
$$;

-- Rows in each file, and the wall-clock times around the change.
SELECT day, count(*) - 1 AS rows,
       string_agg(split_part(line, ',', 4), ' ' ORDER BY n) FILTER (WHERE n BETWEEN 6 AND 15) AS start_times_from_01_00
  FROM (VALUES (date '2025-03-09'), ('2025-11-02')) AS v(day),
       regexp_split_to_table(rtrim(convert_from(pg_temp.smt_csv('10443720000000001', day, '01/01/2026 00:00:00', 0.25), 'UTF8'), E'\n'), E'\n')
         WITH ORDINALITY AS t(line, n)
 GROUP BY day ORDER BY day;

SELECT r.*
  FROM (VALUES (date '2025-03-09', 'spring.csv'), ('2025-11-02', 'fall.csv')) AS v(day, name),
       smt.load(pg_temp.smt_csv('10443720000000001', day, '01/01/2026 00:00:00', 0.25), name) r
 ORDER BY r.file_id;

-- Each day is stored whole: 92 and 100 intervals, nothing missing, 23 and 25 hours of 0.25 kWh.
SELECT esiid, day, import_kwh, intervals_present, intervals_missing FROM smt.daily_usage ORDER BY esiid, day;
SELECT count(*) AS incomplete_days FROM smt.completeness;
SELECT day, count(*) AS intervals, min(interval_start) AS first_start, max(interval_end) AS last_end,
       (extract(epoch FROM max(interval_end) - min(interval_start)) / 3600)::integer AS hours
  FROM smt.interval GROUP BY day ORDER BY day;

-- Intervals are instants: around the change they are contiguous in UTC, though the wall clock jumps.
SELECT day, interval_start, interval_end,
       to_char(interval_start AT TIME ZONE 'America/Chicago', 'HH24:MI') AS central_start, kwh
  FROM smt.interval
 WHERE interval_start BETWEEN '2025-03-09 07:30Z' AND '2025-03-09 08:15Z'
    OR interval_start BETWEEN '2025-11-02 05:45Z' AND '2025-11-02 07:15Z'
 ORDER BY interval_start;

-- The local clock beside the instants: the fall-back day's 01:00 hour twice (both hour ending 2),
-- the spring-forward day with no 02:00 hour (no hour ending 3).
SELECT day, interval_start, interval_start_local, hour_ending
  FROM smt.interval
 WHERE interval_start BETWEEN '2025-11-02 05:45Z' AND '2025-11-02 07:15Z'
    OR interval_start BETWEEN '2025-03-09 07:45Z' AND '2025-03-09 08:00Z'
 ORDER BY interval_start;
SELECT day, count(DISTINCT hour_ending) AS hours_ending, min(hour_ending), max(hour_ending),
       count(*) FILTER (WHERE hour_ending = 3) AS he3
  FROM smt.interval GROUP BY day ORDER BY day;

-- The reports on DST days: hour ending 2 of the fall-back day holds both passes of 01:00 (8
-- intervals of 0.25: 2.00 kWh), the spring-forward day has no hour ending 3; the month's peak
-- (all intervals equal) is the first interval of its first day.
SELECT month, day_type, count(*) AS hours, min(hour_ending), max(hour_ending),
       sum(total_kwh) AS kwh, max(total_kwh) FILTER (WHERE hour_ending = 2) AS he2_kwh,
       count(*) FILTER (WHERE hour_ending = 3) AS he3
  FROM smt.hourly_profile GROUP BY month, day_type ORDER BY month;
SELECT month, day_type, count(*) AS hours, sum(esiid_days) AS esiid_hours, sum(total_kwh) AS kwh
  FROM smt.hourly_load_shape GROUP BY month, day_type ORDER BY month;
SELECT month, import_kwh, intervals_present, peak_kw, peak_start, peak_start_local
  FROM smt.monthly_usage_summary ORDER BY month;
SELECT day, count(*) AS hours, sum(kwh) AS kwh,
       string_agg(hour_ending || ':' || kwh, ' ' ORDER BY hour_ending) FILTER (WHERE hour_ending <= 4) AS first_hours
  FROM smt.hourly_usage GROUP BY day ORDER BY day;
