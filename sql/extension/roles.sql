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
-- The views are security_invoker (they run with the reader's own rights, so row-level security by
-- entitlement can be added to the tables later), so the reader also reads the tables under them.
-- Not the raw file bytes (smt.file_content) nor the staging table.
GRANT SELECT ON smt.interval, smt.interval_15min, smt.daily_usage, smt.completeness, smt.interval_versions,
    smt.interval_day, smt.interval_version, smt.day_total, smt.file, smt.reject,
    smt.daily_read, smt.daily_read_version, smt.monthly_usage, smt.monthly_usage_version,
    smt.monthly_usage_summary, smt.meter_check, smt.meter_check_failures, smt.estimates_replaced,
    smt.hourly_usage, smt.hourly_profile, smt.hourly_load_shape TO smt_reader;

-- Loading goes through the SECURITY DEFINER load functions (smt.load, or smt.load_begin /
-- load_part / load_end for a file in parts): the loader needs no table privileges, and the
-- internal steps they call are granted to nobody.
REVOKE EXECUTE ON FUNCTION smt.load(bytea, text, boolean), smt.load_begin(text, boolean),
    smt.load_part(bigint, bytea), smt.load_end(bigint), smt._upload(bigint),
    smt._content_summary(bigint), smt._stage_file(bigint, boolean), smt._stage_records(bigint, boolean),
    smt._merge_stage(bigint), smt._settle_stage(bigint), smt._apply_day_totals(bigint, date),
    smt.load_staged(bigint, bytea, bigint, text),
    smt._register_upload(smt.upload, bytea, bigint, text),
    smt._staged_problem(date, integer, smallint, smallint[], integer[], text[], text, text, smallint, smallint, smallint), smt._ensure_partitions(date[]), smt._guard_meter_data(),
    smt._lock_schema_change(text), smt._raced_unless(boolean, bigint, text),
    smt._daily_records(bigint, boolean), smt._merge_daily(bigint, boolean),
    smt._monthly_records(bigint, boolean), smt._merge_monthly(bigint, boolean) FROM PUBLIC;
-- The Green Button export reads the views with the caller's own rights.
GRANT EXECUTE ON FUNCTION smt.green_button(text, date, date) TO smt_reader;
GRANT EXECUTE ON FUNCTION smt.load(bytea, text, boolean), smt.load_begin(text, boolean),
    smt.load_part(bigint, bytea), smt.load_end(bigint), smt.load_staged(bigint, bytea, bigint, text) TO smt_loader;
-- A loader that parses reports itself copies its rows into the staging table (and may do nothing
-- else with it: no reading, changing or deleting); smt.load_staged takes only the rows of the
-- loader's own transaction and checks each before merging it.
GRANT INSERT ON smt.stage TO smt_loader;

-- The scheduler's worker role: smt_loader; its bookkeeping goes through the scheduler API below.
GRANT SELECT ON smt.stale_remote_file TO smt_reader;

-- The admin changes data and settings, but gets no TRIGGER (a trigger on a table that smt.load
-- writes would run as the extension's owner) and no access to the staging table or the loads in
-- progress.
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA smt TO smt_admin;
REVOKE ALL ON smt.stage, smt.upload FROM smt_admin;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA smt TO smt_admin;

-- BEGIN scheduler API grants
-- The scheduler's state changes only through the functions of jobs.sql. The worker protocol runs
-- as the extension owner (SECURITY DEFINER) and acts only on the caller's own runs and deliveries,
-- so smt_loader needs no table privileges; only smt_loader may call it.
REVOKE EXECUTE ON FUNCTION smt.enqueue_due(), smt.abandon_crashing_runs(integer),
    smt.claim_run(text, interval), smt.heartbeat_run(bigint, text, interval),
    smt.succeed_run(bigint, text, jsonb), smt.fail_run(bigint, text, text),
    smt.delivery_seen(text, text, text, bigint, timestamptz),
    smt.delivery_imported(text, text, text, bigint, timestamptz, text, boolean),
    smt.deliveries(text, text), smt.delivery_fetched(bigint, text, bytea),
    smt.delivery_loaded(bigint, bigint[], bytea), smt.delivery_quarantined(bigint, text, bytea),
    smt.delivery_keep(bigint, integer, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.enqueue_due(), smt.abandon_crashing_runs(integer),
    smt.claim_run(text, interval), smt.heartbeat_run(bigint, text, interval),
    smt.succeed_run(bigint, text, jsonb), smt.fail_run(bigint, text, text),
    smt.delivery_seen(text, text, text, bigint, timestamptz),
    smt.delivery_imported(text, text, text, bigint, timestamptz, text, boolean),
    smt.deliveries(text, text), smt.delivery_fetched(bigint, text, bytea),
    smt.delivery_loaded(bigint, bigint[], bytea), smt.delivery_quarantined(bigint, text, bytea),
    smt.delivery_keep(bigint, integer, bytea) TO smt_loader;
-- Administration runs with the caller's own table privileges (SECURITY INVOKER): smt_admin's.
REVOKE EXECUTE ON FUNCTION smt.job_add(text, text, text, jsonb, text, integer), smt.job_named(text),
    smt.job_enable(text), smt.job_disable(text), smt.job_run_now(text), smt.job_delete(text),
    smt.delivery_retry(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.job_add(text, text, text, jsonb, text, integer), smt.job_named(text),
    smt.job_enable(text), smt.job_disable(text), smt.job_run_now(text), smt.job_delete(text),
    smt.delivery_retry(bigint) TO smt_admin;
-- Reading: the views are security_invoker, so readers need SELECT on the tables under them too
-- (smt.file and smt.reject are granted above).
GRANT SELECT ON smt.job_status, smt.run_log, smt.file_log, smt.reject_log, smt.delivery_log,
    smt.stale_remote_file TO smt_reader;
GRANT SELECT ON smt.job, smt.job_kind, smt.job_run, smt.remote_file TO smt_reader;
-- smt_admin's table privileges on smt.job_kind, smt.job, smt.job_run and smt.remote_file come from
-- the grant on ALL TABLES above (no TRIGGER: the worker functions write these tables as the owner).
-- Requests to SMT (requests.sql): the worker's steps for smt_loader, asking and cancelling for
-- smt_admin (with its own privileges on smt.request), reading for smt_reader.
REVOKE EXECUTE ON FUNCTION smt.request_claim(text, text, interval),
    smt.request_progress(bigint, text, interval, bigint[]), smt.request_fulfilled(bigint, text, bigint[]),
    smt.request_retry(bigint, text, text, interval), smt.request_failed(bigint, text, text),
    smt.request_accepted(bigint, text, text, interval), smt._fulfil_by_delivery(bigint), smt._file_carries(text, text),
    smt.request_awaiting_files(bigint, text, text[], text[], bigint[]),
    smt.request_odr_quota(bigint, text, integer),
    smt.request_read_received(bigint, text, numeric, timestamptz, text, text),
    smt.request_usage(text[], text, date, date, text), smt.request_meter_read(text, text, text),
    smt.request_cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.request_claim(text, text, interval),
    smt.request_progress(bigint, text, interval, bigint[]), smt.request_fulfilled(bigint, text, bigint[]),
    smt.request_retry(bigint, text, text, interval), smt.request_failed(bigint, text, text),
    smt.request_accepted(bigint, text, text, interval), smt.request_odr_quota(bigint, text, integer),
    smt.request_awaiting_files(bigint, text, text[], text[], bigint[]),
    smt.request_read_received(bigint, text, numeric, timestamptz, text, text) TO smt_loader;
GRANT EXECUTE ON FUNCTION smt.request_usage(text[], text, date, date, text), smt.request_meter_read(text, text, text),
    smt.request_cancel(bigint) TO smt_admin;
GRANT SELECT ON smt.request, smt.request_log, smt.meter_read TO smt_reader;
-- Enrolled meters (meters.sql), the same way.
REVOKE EXECUTE ON FUNCTION smt.meter_claim(text, interval, timestamptz),
    smt.meter_update(text, text, text, text, text, interval), smt.meter_keep_current(boolean), smt.meter_info_update(text, text, jsonb),
    smt.subscription_steps(text, text[]), smt.subscription_recorded(text, text, text, text),
    smt.subscription_cancelled(bigint), smt.enroll(text, text, text, integer), smt.unenroll(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.meter_claim(text, interval, timestamptz),
    smt.meter_update(text, text, text, text, text, interval), smt.meter_keep_current(boolean), smt.meter_info_update(text, text, jsonb),
    smt.subscription_steps(text, text[]), smt.subscription_recorded(text, text, text, text),
    smt.subscription_cancelled(bigint) TO smt_loader;
GRANT EXECUTE ON FUNCTION smt.enroll(text, text, text, integer), smt.unenroll(text) TO smt_admin;
GRANT SELECT ON smt.meter, smt.meter_status, smt.subscription TO smt_reader;
-- END scheduler API grants
-- Distributing smt on Citus (citus.sql) is the extension owner's, once.
REVOKE EXECUTE ON FUNCTION smt.distribute(integer) FROM PUBLIC;
