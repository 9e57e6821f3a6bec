-- Roles: smt_reader (BI tools: the views), smt_loader (load files), smt_admin (everything).
-- Roles are cluster-wide and outlive DROP EXTENSION, so they are made only when missing.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['smt_reader', 'smt_loader', 'smt_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN unique_violation OR duplicate_object THEN
                NULL; -- made meanwhile by CREATE EXTENSION smt in another database of the cluster
            END;
        END IF;
    END LOOP;
END
$$;
GRANT smt_reader TO smt_loader;
GRANT smt_loader TO smt_admin;

GRANT USAGE ON SCHEMA smt TO smt_reader;
GRANT SELECT ON smt.interval, smt.interval_15min, smt.daily_usage, smt.completeness, smt.interval_versions TO smt_reader;

-- Loading goes through SECURITY DEFINER functions: the loader needs no table privileges.
REVOKE EXECUTE ON FUNCTION smt.load(bytea, text, boolean), smt.ensure_partitions(date, date),
    smt.create_stage(), smt.begin_file(bytea, text, text, bytea), smt.fail_file(bigint, text),
    smt.merge_stage(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.load(bytea, text, boolean), smt.ensure_partitions(date, date),
    smt.create_stage(), smt.begin_file(bytea, text, text, bytea), smt.fail_file(bigint, text),
    smt.merge_stage(bigint) TO smt_loader;
GRANT SELECT ON smt.file, smt.reject TO smt_loader;

-- The scheduler's worker role: smt_loader plus its own bookkeeping tables.
GRANT SELECT, INSERT, UPDATE ON smt.job_run, smt.remote_file TO smt_loader;
GRANT SELECT, UPDATE (next_run_at, consecutive_failures, failed_at, last_error) ON smt.job TO smt_loader;
GRANT SELECT ON smt.stale_remote_file TO smt_reader;

GRANT ALL ON ALL TABLES IN SCHEMA smt TO smt_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA smt TO smt_admin;
