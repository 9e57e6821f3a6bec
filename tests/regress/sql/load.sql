-- smt.load(bytea, name) with SMT interval CSV files: counts, the same file twice, a newer and an
-- older revision of a day, a bad row, a file that is not a usage report, and the views over it.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS smt CASCADE;
RESET client_min_messages;
CREATE EXTENSION smt;

-- The rows SMT writes for one ESIID-day: wall-clock (Central) start and end, kWh, A for actual,
-- and an empty kWh and status for a missing interval (kwh[n] NULL). One row per interval of the
-- day, made with generate_series over the day's instants, so DST days come out right too.
CREATE FUNCTION pg_temp.smt_rows(esiid text, day date, revision text, kwh numeric[]) RETURNS text
LANGUAGE sql AS $$
SELECT string_agg(format('''%s,%s,%s,%s,%s,%s,%s,Consumption', esiid, to_char(day, 'MM/DD/YYYY'), revision,
                         to_char(s AT TIME ZONE 'America/Chicago', 'HH24:MI'),
                         to_char((s + interval '15 minutes') AT TIME ZONE 'America/Chicago', 'HH24:MI'),
                         kwh[n], CASE WHEN kwh[n] IS NOT NULL THEN 'A' END) || E'\n', '' ORDER BY n)
  FROM generate_series(day::timestamp AT TIME ZONE 'America/Chicago',
                       (day + 1)::timestamp AT TIME ZONE 'America/Chicago' - interval '15 minutes',
                       interval '15 minutes') WITH ORDINALITY AS g(s, n)
$$;
-- A whole file: SMT's header, then the rows.
CREATE FUNCTION pg_temp.smt_csv(VARIADIC days text[]) RETURNS bytea
LANGUAGE sql AS $$
SELECT convert_to('ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,'
                  'ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION' || E'\n' || array_to_string(days, ''), 'UTF8')
$$;

CREATE TEMP TABLE file (name text PRIMARY KEY, data bytea NOT NULL);
INSERT INTO file VALUES
  -- Revision 1 of 2025-07-01, made 07/02 07:37:17 Central: 0.100, 0.115, 0.130, 0.145 kWh over
  -- and over (24 × 0.490 = 11.760 kWh), but the 10:00 interval (the 41st) is missing.
  ('rev1.csv', pg_temp.smt_csv(pg_temp.smt_rows('10443720000000001', '2025-07-01', '07/02/2025 07:37:17',
      ARRAY(SELECT CASE WHEN i <> 40 THEN 0.100 + (i % 4) * 0.015 END FROM generate_series(0, 95) i)))),
  -- Revision 2, a day later: complete.
  ('rev2.csv', pg_temp.smt_csv(pg_temp.smt_rows('10443720000000001', '2025-07-01', '07/03/2025 08:00:00',
      ARRAY(SELECT 0.100 + (i % 4) * 0.015 FROM generate_series(0, 95) i)))),
  -- A revision older than both, arriving last.
  ('rev0.csv', pg_temp.smt_csv(pg_temp.smt_rows('10443720000000001', '2025-07-01', '07/02/2025 06:00:00',
      array_fill(0.500, ARRAY[96])))),
  -- Two days: one with a garbled value on line 21 (04:45), and another meter's good day.
  ('bad.csv', pg_temp.smt_csv(
      replace(pg_temp.smt_rows('10443720000000001', '2025-07-02', '07/03/2025 07:00:00',
                               array_fill(0.200, ARRAY[96])), ',04:45,05:00,0.200,', ',04:45,05:00,0.2O0,'),
      pg_temp.smt_rows('10443720000000002', '2025-07-01', '07/02/2025 07:37:17', array_fill(0.250, ARRAY[96])))),
  ('notes.txt', convert_to('Hello, this is not a meter report.', 'UTF8'));

-- What a file looks like (first lines of rev1.csv).
SELECT n AS line, text
  FROM regexp_split_to_table(convert_from((SELECT data FROM file WHERE name = 'rev1.csv'), 'UTF8'), E'\n')
       WITH ORDINALITY AS t(text, n)
 WHERE n <= 3 OR n BETWEEN 41 AND 43
 ORDER BY n;

-- First load: one record (an ESIID-channel-day), inserted.
SELECT r.* FROM file, smt.load(file.data, file.name) r WHERE file.name = 'rev1.csv';
SELECT * FROM smt.daily_usage ORDER BY esiid, day;
SELECT esiid, channel, day, intervals_expected, intervals_present, intervals_missing, revision, file_id
  FROM smt.completeness ORDER BY esiid, channel, day;

-- The same bytes again, under any name: nothing changes, the first load's file and counts come back.
SELECT r.* FROM file, smt.load(file.data, 'rev1 again.csv') r WHERE file.name = 'rev1.csv';

-- A newer revision replaces the stored day; the old version moves to history.
SELECT r.* FROM file, smt.load(file.data, file.name) r WHERE file.name = 'rev2.csv';
-- An older revision changes nothing but is kept, as stale.
SELECT r.* FROM file, smt.load(file.data, file.name) r WHERE file.name = 'rev0.csv';
SELECT esiid, channel, day, revision, file_id, outcome, intervals_present
  FROM smt.interval_versions ORDER BY esiid, channel, day, revision;

-- The day now: complete, kWh exactly as delivered (0.100 keeps its scale), instants in UTC
-- (Central daylight midnight is 05:00Z).
SELECT * FROM smt.daily_usage ORDER BY esiid, day;
SELECT count(*) AS incomplete_days FROM smt.completeness;
SELECT * FROM smt.interval
 WHERE interval_start < '2025-07-01 06:00Z' OR interval_start = '2025-07-01 15:00Z'
 ORDER BY esiid, channel, interval_start;

-- A bad row rejects its ESIID-day, with the line, field, kind and reason; the rest of the file loads.
SELECT r.* FROM file, smt.load(file.data, file.name) r WHERE file.name = 'bad.csv';
SELECT file_id, line, field, kind, reason, raw FROM smt.reject ORDER BY reject_id;

-- A file that is not a usage report is kept (state failed) with why, and a WARNING.
SELECT r.* FROM file, smt.load(file.data, file.name) r WHERE file.name = 'notes.txt';

-- The registry: every distinct content once, with what loading it did.
SELECT file_id, name, size_bytes, format, state, records, inserted, replaced, stale, identical,
       conflicts, rejected, error, loaded_by
  FROM smt.file ORDER BY file_id;
SELECT esiid, day, import_kwh, intervals_present, intervals_missing FROM smt.daily_usage ORDER BY esiid, day;
