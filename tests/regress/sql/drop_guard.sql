-- DROP EXTENSION and meter data. A fresh install drops plainly. The first load makes the view
-- smt.meter_data_guard (not a member of the extension, depending on its tables), so once smt
-- holds data a plain DROP EXTENSION fails and names it; CASCADE drops the extension and the data.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS smt CASCADE;
RESET client_min_messages;

-- Fresh install: no guard, a plain DROP works.
CREATE EXTENSION smt;
SELECT to_regclass('smt.meter_data_guard') AS guard;
DROP EXTENSION smt;
SELECT count(*) AS smt_extensions FROM pg_extension WHERE extname = 'smt';

-- One ordinary day (96 quarter-hours of 0.125 kWh) as SMT writes it.
CREATE FUNCTION pg_temp.smt_day() RETURNS bytea LANGUAGE sql AS $$
SELECT convert_to('ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,'
                  'ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION' || E'\n'
                  || string_agg(format('''10443720000000001,07/01/2025,07/02/2025 07:37:17,%s,%s,0.125,A,Consumption',
                                       to_char(t, 'HH24:MI'), to_char(t + interval '15 minutes', 'HH24:MI')) || E'\n',
                                '' ORDER BY t), 'UTF8')
  FROM generate_series(0, 95) i, LATERAL (SELECT time '00:00' + i * interval '15 minutes') AS x(t)
$$;

-- After a load the guard exists, and is not part of the extension.
CREATE EXTENSION smt;
SELECT file_id, records, inserted FROM smt.load(pg_temp.smt_day(), 'day.csv');
SELECT files FROM smt.meter_data_guard;
SELECT c.relname, d.objid IS NOT NULL AS extension_member
  FROM pg_class c
  LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 WHERE c.relnamespace = 'smt'::regnamespace AND c.relname IN ('meter_data_guard', 'interval_day', 'interval_day_2025_07')
 ORDER BY c.relname;

-- A plain DROP EXTENSION now fails, naming the guard.
DROP EXTENSION smt;
SELECT count(*) AS smt_extensions FROM pg_extension WHERE extname = 'smt';

-- CASCADE drops the extension, the guard, the partitions and all the data.
DROP EXTENSION smt CASCADE;
SELECT count(*) AS smt_extensions FROM pg_extension WHERE extname = 'smt';
SELECT to_regclass('smt.interval_day_2025_07') AS partition, to_regclass('smt.meter_data_guard') AS guard;

-- The roles are cluster-wide and stay.
SELECT rolname FROM pg_roles WHERE rolname IN ('smt_reader', 'smt_loader', 'smt_admin') ORDER BY rolname;
