-- The scheduler's state, all in the database: jobs with cron schedules, their runs, and the files
-- seen on remote sites. A DBA reads and changes these tables directly; a change to a job's schedule
-- recomputes its next_run_at at once, and `smt run` workers, which poll, act on it within their
-- poll interval. Changes are also announced with NOTIFY smt_jobs for anyone listening.

CREATE TABLE smt.job (
    job_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    schedule             text NOT NULL,
    time_zone            text NOT NULL DEFAULT 'America/Chicago',
    kind                 text NOT NULL CHECK (kind IN ('ftps_fetch', 'import_dir')),
    params               jsonb NOT NULL DEFAULT '{}',
    enabled              boolean NOT NULL DEFAULT true,
    next_run_at          timestamptz,
    max_attempts         integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    retry_delay          interval NOT NULL DEFAULT '1 minute',
    consecutive_failures integer NOT NULL DEFAULT 0,
    failed_at            timestamptz,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE smt.job IS 'Scheduled jobs of the smt scheduler. Change schedule, enabled or params with UPDATE; workers pick the change up without a restart.';
COMMENT ON COLUMN smt.job.job_id IS 'Identifier of the job.';
COMMENT ON COLUMN smt.job.name IS 'Unique name, used by `smt jobs`.';
COMMENT ON COLUMN smt.job.schedule IS 'Standard 5-field crontab line (minute hour day-of-month month day-of-week, Sunday = 0 or 7) or @hourly/@daily/@weekly/@monthly/@yearly.';
COMMENT ON COLUMN smt.job.time_zone IS 'Time zone the schedule is read in (default America/Chicago; DST-safe).';
COMMENT ON COLUMN smt.job.kind IS 'ftps_fetch (download from an SMT FTPS site and load) or import_dir (load files from a local directory).';
COMMENT ON COLUMN smt.job.params IS 'Settings of the job kind (host, directories, key files...). Never secrets: passwords and passphrases come from the environment of the worker.';
COMMENT ON COLUMN smt.job.enabled IS 'Disabled jobs are not run. Re-enabling clears failed_at.';
COMMENT ON COLUMN smt.job.next_run_at IS 'When the job is next due; computed from schedule and time_zone.';
COMMENT ON COLUMN smt.job.max_attempts IS 'Attempts of one scheduled run before the job is marked failed.';
COMMENT ON COLUMN smt.job.retry_delay IS 'Delay before the first retry; doubled for each further attempt.';
COMMENT ON COLUMN smt.job.consecutive_failures IS 'Failed attempts since the last success.';
COMMENT ON COLUMN smt.job.failed_at IS 'Set when the job kept failing (max_attempts reached): it is not retried until re-enabled.';
COMMENT ON COLUMN smt.job.last_error IS 'Error of the last failed attempt.';
COMMENT ON COLUMN smt.job.created_at IS 'When the job was created.';
COMMENT ON COLUMN smt.job.updated_at IS 'When the job was last changed.';

-- Keeps next_run_at in step with the schedule (checking it), clears a failure on re-enable, and
-- tells the workers.
CREATE FUNCTION smt.job_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.enabled AND NOT OLD.enabled THEN
        NEW.failed_at := NULL;
        NEW.consecutive_failures := 0;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.time_zone IS DISTINCT FROM OLD.time_zone
       OR (NEW.enabled AND NOT OLD.enabled) OR (NEW.failed_at IS NULL AND OLD.failed_at IS NOT NULL) THEN
        NEW.next_run_at := smt.cron_next(NEW.schedule, NEW.time_zone, now());
    END IF;
    NEW.updated_at := now();
    PERFORM pg_notify('smt_jobs', NEW.name);
    RETURN NEW;
END
$$;
CREATE TRIGGER job_changed BEFORE INSERT OR UPDATE ON smt.job FOR EACH ROW EXECUTE FUNCTION smt.job_changed();

CREATE TABLE smt.job_run (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id        bigint NOT NULL REFERENCES smt.job ON DELETE CASCADE,
    scheduled_for timestamptz NOT NULL,
    attempt       integer NOT NULL DEFAULT 1,
    state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    not_before    timestamptz NOT NULL DEFAULT now(),
    worker        text,
    lease_until   timestamptz,
    heartbeat_at  timestamptz,
    takeovers     integer NOT NULL DEFAULT 0,
    started_at    timestamptz,
    finished_at   timestamptz,
    error         text,
    counts        jsonb,
    UNIQUE (job_id, scheduled_for, attempt)
);
CREATE INDEX job_run_due_idx ON smt.job_run (not_before) WHERE state IN ('queued', 'running');
COMMENT ON TABLE smt.job_run IS 'Every run of every job with its outcome. A run is claimed with FOR UPDATE SKIP LOCKED and held by a lease the worker renews; a run whose lease expired (crashed worker) is taken over.';
COMMENT ON COLUMN smt.job_run.run_id IS 'Identifier of the run.';
COMMENT ON COLUMN smt.job_run.job_id IS 'The job.';
COMMENT ON COLUMN smt.job_run.scheduled_for IS 'The scheduled time this run is for.';
COMMENT ON COLUMN smt.job_run.attempt IS 'Attempt number for this scheduled time (retries count up).';
COMMENT ON COLUMN smt.job_run.state IS 'queued, running, succeeded or failed.';
COMMENT ON COLUMN smt.job_run.not_before IS 'Earliest start (retries wait with backoff).';
COMMENT ON COLUMN smt.job_run.worker IS 'Worker (host:pid) running or last running it.';
COMMENT ON COLUMN smt.job_run.lease_until IS 'The worker''s claim expires then unless renewed by a heartbeat.';
COMMENT ON COLUMN smt.job_run.heartbeat_at IS 'Last heartbeat of the worker.';
COMMENT ON COLUMN smt.job_run.takeovers IS 'Times the run was taken over from a worker whose lease expired.';
COMMENT ON COLUMN smt.job_run.started_at IS 'When the current worker started it.';
COMMENT ON COLUMN smt.job_run.finished_at IS 'When it finished.';
COMMENT ON COLUMN smt.job_run.error IS 'Why it failed.';
COMMENT ON COLUMN smt.job_run.counts IS 'What it did: files listed, fetched, loaded, quarantined, records...';

CREATE TABLE smt.remote_file (
    remote_file_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         text NOT NULL,
    directory      text NOT NULL,
    name           text NOT NULL,
    size_bytes     bigint NOT NULL,
    modified_at    timestamptz,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    state          text NOT NULL DEFAULT 'seen' CHECK (state IN ('seen', 'fetched', 'loaded', 'quarantined')),
    local_path     text,
    sha256         bytea,
    file_ids       bigint[],
    error          text,
    fetched_at     timestamptz,
    loaded_at      timestamptz,
    -- NULLS NOT DISTINCT: a server that reports no modification time must not look new each run.
    UNIQUE NULLS NOT DISTINCT (source, directory, name, size_bytes, modified_at)
);
COMMENT ON TABLE smt.remote_file IS 'Files seen on remote sites (SMT FTPS), one row per name, size and modification time, with what became of each.';
COMMENT ON COLUMN smt.remote_file.remote_file_id IS 'Identifier.';
COMMENT ON COLUMN smt.remote_file.source IS 'Where it was seen, e.g. ftps://user@host:port (no secrets).';
COMMENT ON COLUMN smt.remote_file.directory IS 'Remote directory.';
COMMENT ON COLUMN smt.remote_file.name IS 'Remote file name.';
COMMENT ON COLUMN smt.remote_file.size_bytes IS 'Size on the remote site.';
COMMENT ON COLUMN smt.remote_file.modified_at IS 'Modification time on the remote site.';
COMMENT ON COLUMN smt.remote_file.first_seen_at IS 'When a listing first showed it.';
COMMENT ON COLUMN smt.remote_file.state IS 'seen, fetched (downloaded, not yet loaded), loaded, or quarantined (could not be decrypted, unzipped or read; see error).';
COMMENT ON COLUMN smt.remote_file.local_path IS 'Where the downloaded file is kept.';
COMMENT ON COLUMN smt.remote_file.sha256 IS 'SHA-256 of the downloaded bytes.';
COMMENT ON COLUMN smt.remote_file.file_ids IS 'smt.file rows of the reports it held.';
COMMENT ON COLUMN smt.remote_file.error IS 'Why it was quarantined.';
COMMENT ON COLUMN smt.remote_file.fetched_at IS 'When it was downloaded.';
COMMENT ON COLUMN smt.remote_file.loaded_at IS 'When its reports were loaded.';

CREATE VIEW smt.stale_remote_file AS
SELECT r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state, r.error,
       r.modified_at + interval '10 days' AS deleted_from_smt_at
  FROM smt.remote_file r
 WHERE r.state <> 'loaded' AND r.modified_at < now() - interval '7 days';
COMMENT ON VIEW smt.stale_remote_file IS 'Remote files older than 7 days that are not loaded: SMT deletes files after 10 days, so these need attention now.';
COMMENT ON COLUMN smt.stale_remote_file.source IS 'Remote site.';
COMMENT ON COLUMN smt.stale_remote_file.directory IS 'Remote directory.';
COMMENT ON COLUMN smt.stale_remote_file.name IS 'Remote file name.';
COMMENT ON COLUMN smt.stale_remote_file.size_bytes IS 'Size on the remote site.';
COMMENT ON COLUMN smt.stale_remote_file.modified_at IS 'Modification time on the remote site.';
COMMENT ON COLUMN smt.stale_remote_file.state IS 'seen, fetched or quarantined.';
COMMENT ON COLUMN smt.stale_remote_file.error IS 'Why it is quarantined, if it is.';
COMMENT ON COLUMN smt.stale_remote_file.deleted_from_smt_at IS 'When SMT will have deleted it (10 days after posting).';
