-- Roles. CREATE EXTENSION makes three cluster-wide roles (kept when missing, never dropped):
--   smt_reader  BI users: the views and the tables under them, not the raw files nor staging;
--   smt_loader  loaders (and the scheduler): smt.load, the one SECURITY DEFINER door; no table
--               privileges, no internal helpers; also a reader;
--   smt_admin   managing the tables (not tested here).
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS smt CASCADE;
RESET client_min_messages;
CREATE EXTENSION smt;

CREATE ROLE regress_smt_bi NOLOGIN;
CREATE ROLE regress_smt_worker NOLOGIN;
GRANT smt_reader TO regress_smt_bi;
GRANT smt_loader TO regress_smt_worker;

-- One ordinary day (96 quarter-hours of 0.125 kWh) as SMT writes it.
CREATE FUNCTION pg_temp.smt_day() RETURNS bytea LANGUAGE sql AS $$
SELECT convert_to('ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,'
                  'ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION' || E'\n'
                  || string_agg(format('''10443720000000001,07/01/2025,07/02/2025 07:37:17,%s,%s,0.125,A,Consumption',
                                       to_char(t, 'HH24:MI'), to_char(t + interval '15 minutes', 'HH24:MI')) || E'\n',
                                '' ORDER BY t), 'UTF8')
  FROM generate_series(0, 95) i, LATERAL (SELECT time '00:00' + i * interval '15 minutes') AS x(t)
$$;

-- The privileges, as a table.
SELECT r AS role,
       has_table_privilege(r, 'smt.daily_usage', 'SELECT') AS read_views,
       has_table_privilege(r, 'smt.interval_day', 'SELECT') AS read_interval_day,
       has_table_privilege(r, 'smt.file_content', 'SELECT') AS read_file_content,
       has_table_privilege(r, 'smt.stage', 'INSERT') AS copy_into_stage,
       has_table_privilege(r, 'smt.stage', 'SELECT, UPDATE, DELETE') AS read_or_change_stage,
       has_table_privilege(r, 'smt.interval_day', 'INSERT, UPDATE, DELETE') AS write_interval_day,
       has_function_privilege(r, 'smt.load(bytea, text, boolean)', 'EXECUTE') AS call_load,
       has_function_privilege(r, 'smt.load_begin(text, boolean)', 'EXECUTE') AS call_load_begin,
       has_function_privilege(r, 'smt._stage_file(bigint, boolean)', 'EXECUTE') AS call_stage,
       has_function_privilege(r, 'smt._merge_stage(bigint)', 'EXECUTE') AS call_merge_stage
  FROM unnest(ARRAY['regress_smt_bi', 'regress_smt_worker']) AS r
 ORDER BY r;

-- The loader loads through smt.load; loaded_by is the login (session) role, not the SET ROLE one.
SET ROLE regress_smt_worker;
SELECT * FROM smt.load(pg_temp.smt_day(), 'day.csv');
SELECT file_id, name, state, loaded_by FROM smt.file ORDER BY file_id;
-- ...or copies rows it parsed itself into the staging table (smt.load_staged checks them), but
-- reads and changes nothing there, and writes no table, and calls no helper.
SELECT count(*) FROM smt.stage;
DELETE FROM smt.stage;
DELETE FROM smt.interval_day;
SELECT * FROM smt._merge_stage(1);
SELECT * FROM smt._stage_file(1, false);
SELECT count(*) FROM smt.file_content;
RESET ROLE;

-- The reader reads the views and the tables under them...
SET ROLE regress_smt_bi;
SELECT esiid, day, import_kwh, intervals_present, intervals_missing FROM smt.daily_usage ORDER BY esiid, day;
SELECT esiid, day, revision, file_id, outcome FROM smt.interval_versions ORDER BY esiid, day, revision;
-- ...but not the raw files nor staging, and cannot load.
SELECT count(*) FROM smt.file_content;
SELECT count(*) FROM smt.stage;
SELECT * FROM smt.load(pg_temp.smt_day(), 'again.csv');
RESET ROLE;

DROP ROLE regress_smt_bi;
DROP ROLE regress_smt_worker;
