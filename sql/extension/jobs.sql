-- The scheduler's state, all in the database: job kinds, jobs with cron schedules, their runs, and
-- the deliveries seen on remote sites. Every state transition is a named SQL function below; the
-- `smt` scheduler calls only these functions and reads only the views, so its role (smt_loader)
-- needs no table privileges.
--
--   worker protocol (SECURITY DEFINER, for smt_loader; each acts only on the caller's own runs and
--   deliveries, by session_user):
--     smt.enqueue_due, smt.abandon_crashing_runs           global steps, any worker may take them
--     smt.claim_run → smt.heartbeat_run* → smt.succeed_run | smt.fail_run
--     smt.delivery_seen → smt.delivery_fetched → smt.delivery_loaded | smt.delivery_quarantined
--     smt.delivery_imported (a local file: registered straight as fetched), smt.deliveries (to do)
--   administration (SECURITY INVOKER, with the caller's own table privileges: smt_admin):
--     smt.job_add, smt.job_enable, smt.job_disable, smt.job_run_now, smt.delivery_retry
--   reading (views WITH (security_invoker), for smt_reader):
--     smt.job_status, smt.run_log, smt.file_log, smt.reject_log, smt.stale_remote_file
--
-- A DBA may still read and change the tables directly: a change to a job's schedule recomputes its
-- next_run_at at once, and `smt run` workers, which poll, act on it within their poll interval.
-- Changes are also announced with NOTIFY smt_jobs for anyone listening.

CREATE TABLE smt.job_kind (
    kind        text PRIMARY KEY,
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE smt.job_kind IS 'What a job can do. A worker runs the kinds it implements and fails a run of any other with "unknown job kind"; a new kind (SFTP, SOAP, JSON API...) needs only a row here and a worker that knows it.';
COMMENT ON COLUMN smt.job_kind.kind IS 'Name of the kind, as in smt.job.kind.';
COMMENT ON COLUMN smt.job_kind.description IS 'What a job of this kind does and which params it takes.';
COMMENT ON COLUMN smt.job_kind.builtin IS 'True for the kinds this version of the extension ships (made by CREATE EXTENSION); false for kinds added by a DBA.';
INSERT INTO smt.job_kind (kind, description, builtin) VALUES
    ('ftps_fetch', 'Lists an SMT FTPS site (explicit TLS, client certificate), downloads every file not fetched before, decrypts, unzips and loads it. params: source (the name of an [ftps.NAME] site in the worker''s config file, which holds host, user, credentials and certificates), dirs (remote directories, default ["/"]).', true),
    ('import_dir', 'Loads every file in a local directory (not hidden, not .part) once. params: source (a name under [import_dirs] in the worker''s config file).', true),
    ('sftp_fetch', 'Lists an SMT SFTP site (SMT''s delivery since 2025-09-13; host key checked against the worker''s known_hosts), downloads every file not fetched before (resuming a broken download), decrypts, unzips and loads it. params: source (the name of an [sftp.NAME] site in the worker''s config file, which holds host, user, key or password and known_hosts), dirs (remote directories, default ["/adhocusage", "/EnrollmentReports"]).', true);

CREATE TABLE smt.job (
    job_id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    schedule             text NOT NULL,
    time_zone            text NOT NULL DEFAULT 'America/Chicago',
    kind                 text NOT NULL REFERENCES smt.job_kind,
    params               jsonb NOT NULL DEFAULT '{}',
    enabled              boolean NOT NULL DEFAULT true,
    next_run_at          timestamptz,
    max_attempts         integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    retry_delay          interval NOT NULL DEFAULT '1 minute',
    consecutive_failures integer NOT NULL DEFAULT 0,
    failed_at            timestamptz,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- Added in 0.2.0: last, so that upgraded and fresh tables (and smt.job rows) have one column order.
    max_retry_delay      interval NOT NULL DEFAULT '1 hour',
    -- Whoever can write a job must not be able to hand the worker a secret, nor make it send one of
    -- its own anywhere: credentials, key files, hosts and local paths live in the worker's config
    -- file and a job names them. Refused: any key, at any depth, that looks like a secret or names
    -- one (passw, passphrase, pwd, secret, token, credential, private, or key not followed by a
    -- letter: key, client_key, clientKey, KEY_FILE; keyring and keys pass), and any string holding
    -- "private key". The worker checks the same rule (smt_scheduler::sources::secret_looking_key).
    CONSTRAINT job_params_hold_no_secrets CHECK (
        NOT jsonb_path_exists(params,
            'lax $.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "passw|passphrase|pwd|secret|token|credential|private|key([^a-z]|$)" flag "i")')
        AND NOT jsonb_path_exists(params,
            'lax $.** ? (@.type() == "string" && @ like_regex "private key" flag "i")'))
);
COMMENT ON TABLE smt.job IS 'Scheduled jobs of the smt scheduler. Add them with smt.job_add; change schedule, enabled or params with UPDATE; workers pick the change up without a restart.';
COMMENT ON COLUMN smt.job.job_id IS 'Identifier of the job.';
COMMENT ON COLUMN smt.job.name IS 'Unique name, used by `smt jobs`.';
COMMENT ON COLUMN smt.job.schedule IS 'Standard 5-field crontab line (minute hour day-of-month month day-of-week, Sunday = 0 or 7) or @hourly/@daily/@weekly/@monthly/@yearly.';
COMMENT ON COLUMN smt.job.time_zone IS 'Time zone the schedule is read in (default America/Chicago; DST-safe).';
COMMENT ON COLUMN smt.job.kind IS 'What the job does: a row of smt.job_kind (sftp_fetch or ftps_fetch: download from an SMT SFTP or FTPS site and load; import_dir: load files from a local directory; smt_api: send requests through SMT''s JSON API; soap_api: through the seeds'' SMT SOAP API).';
COMMENT ON COLUMN smt.job.params IS 'Settings of the job kind (see smt.job_kind.description): names of what the worker''s own config file defines (a site, an import directory) and remote directories. Never secrets, hosts, key files or local paths: the constraint job_params_hold_no_secrets refuses secret-looking keys.';
COMMENT ON COLUMN smt.job.enabled IS 'Disabled jobs are not run. Re-enabling clears failed_at.';
COMMENT ON COLUMN smt.job.next_run_at IS 'When the job is next due; computed from schedule and time_zone (on INSERT only when not given, so restored rows keep theirs).';
COMMENT ON COLUMN smt.job.max_attempts IS 'Attempts of one scheduled run before the job is marked failed.';
COMMENT ON COLUMN smt.job.retry_delay IS 'Delay before the first retry; doubled for each further attempt, up to max_retry_delay, less up to 10% random jitter (see smt.retry_backoff).';
COMMENT ON COLUMN smt.job.max_retry_delay IS 'Longest delay between two attempts (the cap of the doubling retry_delay).';
COMMENT ON COLUMN smt.job.consecutive_failures IS 'Failed attempts since the last success.';
COMMENT ON COLUMN smt.job.failed_at IS 'Set when the job kept failing (max_attempts reached, or a run kept killing its workers): it is not retried until re-enabled.';
COMMENT ON COLUMN smt.job.last_error IS 'Error of the last failed attempt.';
COMMENT ON COLUMN smt.job.created_at IS 'When the job was created.';
COMMENT ON COLUMN smt.job.updated_at IS 'When the job was last changed (on INSERT as given, so restored rows keep theirs).';

-- Keeps next_run_at in step with the schedule (checking it), clears a failure on re-enable, and
-- tells the workers. On INSERT an explicitly given next_run_at and updated_at are kept (pg_restore
-- must give back identical rows); the schedule is checked all the same.
CREATE FUNCTION smt.job_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    next timestamptz;
BEGIN
    IF TG_OP = 'INSERT' THEN
        next := smt.cron_next(NEW.schedule, NEW.time_zone, now());
        IF NEW.next_run_at IS NULL THEN
            NEW.next_run_at := next;
        END IF;
    ELSE
        IF NEW.enabled AND NOT OLD.enabled THEN
            NEW.failed_at := NULL;
            NEW.consecutive_failures := 0;
        END IF;
        IF NEW.schedule IS DISTINCT FROM OLD.schedule OR NEW.time_zone IS DISTINCT FROM OLD.time_zone
           OR (NEW.enabled AND NOT OLD.enabled) OR (NEW.failed_at IS NULL AND OLD.failed_at IS NOT NULL) THEN
            NEW.next_run_at := smt.cron_next(NEW.schedule, NEW.time_zone, now());
        END IF;
        NEW.updated_at := now();
    END IF;
    PERFORM pg_notify('smt_jobs', NEW.name);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION smt.job_changed() IS 'Trigger of smt.job: checks the schedule and computes next_run_at (on INSERT only when none is given), clears a failure when a job is re-enabled, sets updated_at on UPDATE, and sends NOTIFY smt_jobs with the job name.';
CREATE TRIGGER job_changed BEFORE INSERT OR UPDATE ON smt.job FOR EACH ROW EXECUTE FUNCTION smt.job_changed();
COMMENT ON TRIGGER job_changed ON smt.job IS 'Runs smt.job_changed: next_run_at follows schedule and time_zone, re-enabling clears a failure, workers are notified.';

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
    claimed_by    text,
    UNIQUE (job_id, scheduled_for, attempt)
);
CREATE INDEX job_run_due_idx ON smt.job_run (not_before) WHERE state IN ('queued', 'running');
COMMENT ON TABLE smt.job_run IS 'Every run of every job with its outcome. A run is claimed (smt.claim_run) with FOR UPDATE SKIP LOCKED and held by a lease the worker renews (smt.heartbeat_run); a run whose lease expired (crashed worker) is taken over.';
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
COMMENT ON COLUMN smt.job_run.counts IS 'What it did: files listed, fetched, loaded, quarantined, and the load counts (records, inserted, replaced, stale, identical, conflicts, rejected).';
COMMENT ON COLUMN smt.job_run.claimed_by IS 'Login role (session_user) of the worker that claimed it: only that role may renew, succeed or fail it.';

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
    registered_by  text NOT NULL DEFAULT session_user,
    -- NULLS NOT DISTINCT: a server that reports no modification time must not look new each run.
    -- registered_by: each worker role keeps its own registry, so no role can take over a delivery
    -- another will see (registering it first, then marking it loaded); smt.load's digest keeps a
    -- report fetched by two roles from loading twice.
    UNIQUE NULLS NOT DISTINCT (source, directory, name, size_bytes, modified_at, registered_by)
);
COMMENT ON TABLE smt.remote_file IS 'Deliveries seen on remote sites (SMT FTPS) or imported from local files, one row per name, size and modification time, with what became of each: seen → fetched → loaded or quarantined (smt.delivery_* functions).';
COMMENT ON COLUMN smt.remote_file.remote_file_id IS 'Identifier.';
COMMENT ON COLUMN smt.remote_file.source IS 'Where it was seen, e.g. ftps://user@host:port, dir:///path or import (no secrets).';
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
COMMENT ON COLUMN smt.remote_file.registered_by IS 'Login role (session_user) of the worker that registered it: each role keeps its own registry, and only that role may mark its rows fetched, loaded or quarantined. After moving the scheduler to another login role, the new role sees every file as new and fetches it again; smt.load recognizes reports already loaded by their digest.';

-- Deliveries as received (still zipped and encrypted: already compressed, so stored as they are,
-- uncompressed by PostgreSQL), in parts of at most 8 MiB, kept by the worker after loading them
-- when its configuration says so (load.keep_deliveries = "database", the default): the raw record
-- of what SMT sent, off the load's critical path, at about 1-2 bytes per interval.
CREATE TABLE smt.delivery_content (
    remote_file_id bigint NOT NULL REFERENCES smt.remote_file ON DELETE CASCADE,
    part           integer NOT NULL CHECK (part >= 0),
    data           bytea NOT NULL,
    PRIMARY KEY (remote_file_id, part)
);
ALTER TABLE smt.delivery_content ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE smt.delivery_content IS 'The bytes of each delivery exactly as received (smt.remote_file), in parts: the delivery is its parts'' data in part order. Written by the worker through smt.delivery_keep.';
COMMENT ON COLUMN smt.delivery_content.remote_file_id IS 'The delivery (smt.remote_file).';
COMMENT ON COLUMN smt.delivery_content.part IS 'Position of this part in the delivery, from 0.';
COMMENT ON COLUMN smt.delivery_content.data IS 'This part of the delivery as received (at most 8 MiB); stored uncompressed, since a delivery is compressed already.';

-- pg_dump writes the scheduler's state (and the positions of the identity sequences); of the job
-- kinds only those a DBA added, since CREATE EXTENSION makes the built-in ones.
SELECT pg_catalog.pg_extension_config_dump('smt.job_kind', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('smt.job', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_run_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.remote_file', '');
SELECT pg_catalog.pg_extension_config_dump('smt.remote_file_remote_file_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.delivery_content', '');

-- ---------------------------------------------------------------------------------------------
-- Shapes shared by the functions.

CREATE TYPE smt.claimed_run AS (
    run_id        bigint,
    job_id        bigint,
    job_name      text,
    kind          text,
    params        jsonb,
    scheduled_for timestamptz,
    attempt       integer,
    takeovers     integer
);
COMMENT ON TYPE smt.claimed_run IS 'A run a worker has claimed (smt.claim_run), with what its job says to do.';
COMMENT ON COLUMN smt.claimed_run.run_id IS 'The run (smt.job_run).';
COMMENT ON COLUMN smt.claimed_run.job_id IS 'Its job (smt.job).';
COMMENT ON COLUMN smt.claimed_run.job_name IS 'Name of the job.';
COMMENT ON COLUMN smt.claimed_run.kind IS 'Kind of the job (smt.job_kind).';
COMMENT ON COLUMN smt.claimed_run.params IS 'Settings of the job.';
COMMENT ON COLUMN smt.claimed_run.scheduled_for IS 'The scheduled time the run is for.';
COMMENT ON COLUMN smt.claimed_run.attempt IS 'Attempt number (1 for the first, more for retries).';
COMMENT ON COLUMN smt.claimed_run.takeovers IS 'Times the run was taken over from workers that stopped heartbeating (0 for a fresh claim).';

CREATE TYPE smt.delivery AS (
    remote_file_id bigint,
    source         text,
    directory      text,
    name           text,
    size_bytes     bigint,
    modified_at    timestamptz,
    state          text,
    local_path     text,
    error          text,
    registered_by  text
);
COMMENT ON TYPE smt.delivery IS 'A delivery (row of smt.remote_file) as the smt.delivery_* functions return it.';
COMMENT ON COLUMN smt.delivery.remote_file_id IS 'Identifier, passed to the other smt.delivery_* functions.';
COMMENT ON COLUMN smt.delivery.source IS 'Where it was seen (ftps://user@host:port, dir:///path, import).';
COMMENT ON COLUMN smt.delivery.directory IS 'Remote (or local) directory.';
COMMENT ON COLUMN smt.delivery.name IS 'File name.';
COMMENT ON COLUMN smt.delivery.size_bytes IS 'Size in bytes as listed.';
COMMENT ON COLUMN smt.delivery.modified_at IS 'Modification time as listed.';
COMMENT ON COLUMN smt.delivery.state IS 'seen, fetched, loaded or quarantined.';
COMMENT ON COLUMN smt.delivery.local_path IS 'Where the fetched file is kept.';
COMMENT ON COLUMN smt.delivery.error IS 'Why it is quarantined, if it is.';
COMMENT ON COLUMN smt.delivery.registered_by IS 'Login role that registered it; only it may move it on.';

-- ---------------------------------------------------------------------------------------------
-- Retry policy.

CREATE FUNCTION smt.retry_backoff(retry_delay interval, max_retry_delay interval, attempt integer) RETURNS interval
LANGUAGE sql VOLATILE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp
AS $$
    SELECT make_interval(secs =>
        least(extract(epoch FROM $2)::float8,
              extract(epoch FROM $1)::float8 * power(2::float8, least(greatest($3 - 1, 0), 60)))
        * (1 - 0.1 * random()))
$$;
COMMENT ON FUNCTION smt.retry_backoff(interval, interval, integer) IS
'How long to wait after failed attempt number attempt: retry_delay × 2^(attempt-1), at most max_retry_delay, less a random 0-10% (jitter, so that the retries of many runs failing together spread out).';

-- ---------------------------------------------------------------------------------------------
-- Worker protocol: runs.

CREATE FUNCTION smt.enqueue_due() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    queued integer;
BEGIN
    WITH due AS (
        SELECT j.job_id, j.next_run_at, j.schedule, j.time_zone FROM smt.job j
         WHERE j.enabled AND j.failed_at IS NULL AND j.next_run_at <= now()
           FOR UPDATE SKIP LOCKED
    ), runs AS (
        INSERT INTO smt.job_run (job_id, scheduled_for)
        SELECT d.job_id, d.next_run_at FROM due d
        ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
    )
    UPDATE smt.job j
       SET next_run_at = smt.cron_next(d.schedule, d.time_zone, greatest(now(), d.next_run_at))
      FROM due d WHERE j.job_id = d.job_id;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END
$$;
COMMENT ON FUNCTION smt.enqueue_due() IS
'Queues a run for every due job (enabled, not failed, next_run_at <= now()) and moves its next_run_at on by its schedule; runs missed while no worker was up collapse into one. Jobs another worker is queueing are skipped (SKIP LOCKED). Returns how many jobs were queued.';

CREATE FUNCTION smt.abandon_crashing_runs(max_takeovers integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    abandoned integer;
BEGIN
    WITH failed AS (
        UPDATE smt.job_run r
           SET state = 'failed', finished_at = now(), lease_until = NULL,
               error = format('abandoned: its worker stopped %s times without finishing', r.takeovers + 1)
         WHERE r.state = 'running' AND r.lease_until < now() AND r.takeovers >= abandon_crashing_runs.max_takeovers
     RETURNING r.job_id, r.error
    ), jobs AS (
        UPDATE smt.job j
           SET consecutive_failures = j.consecutive_failures + 1, last_error = f.error, failed_at = now()
          FROM failed f WHERE j.job_id = f.job_id
    )
    SELECT count(*) INTO abandoned FROM failed;
    RETURN abandoned;
END
$$;
COMMENT ON FUNCTION smt.abandon_crashing_runs(integer) IS
'Fails every run whose lease expired after it was already taken over max_takeovers times (something in it kills its workers) and marks its job failed (failed_at), so it does not crash workers forever; re-enabling the job clears that. Returns how many runs were abandoned.';

CREATE FUNCTION smt.claim_run(worker text, lease interval) RETURNS SETOF smt.claimed_run
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF claim_run.worker IS NULL OR claim_run.lease IS NULL OR claim_run.lease <= interval '0' THEN
        RAISE EXCEPTION 'smt.claim_run needs a worker name and a positive lease'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Call it as smt.claim_run(''host:pid'', interval ''60 seconds'').';
    END IF;
    RETURN QUERY
    UPDATE smt.job_run r
       SET takeovers = r.takeovers + (r.state = 'running')::int,
           state = 'running', worker = claim_run.worker, claimed_by = session_user,
           started_at = now(), heartbeat_at = now(), lease_until = now() + claim_run.lease
      FROM smt.job j
     WHERE j.job_id = r.job_id
       AND r.run_id = (
           SELECT q.run_id FROM smt.job_run q JOIN smt.job qj ON qj.job_id = q.job_id
            WHERE qj.enabled
              AND ((q.state = 'queued' AND q.not_before <= now())
                   OR (q.state = 'running' AND q.lease_until < now()))
            ORDER BY q.not_before, q.run_id
            LIMIT 1
              FOR UPDATE OF q SKIP LOCKED)
 RETURNING r.run_id, r.job_id, j.name, j.kind, j.params, r.scheduled_for, r.attempt, r.takeovers;
END
$$;
COMMENT ON FUNCTION smt.claim_run(text, interval) IS
'Claims the oldest runnable run of an enabled job for worker (host:pid) and the calling login role: a queued run that is due, or a running one whose lease expired (its worker died: a takeover, counted in takeovers). The claim holds for lease unless renewed with smt.heartbeat_run. Returns no row when there is nothing to do.';

CREATE FUNCTION smt.heartbeat_run(run_id bigint, worker text, lease interval) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF heartbeat_run.lease IS NULL OR heartbeat_run.lease <= interval '0' THEN
        RAISE EXCEPTION 'smt.heartbeat_run needs a positive lease' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE smt.job_run r SET heartbeat_at = now(), lease_until = now() + heartbeat_run.lease
     WHERE r.run_id = heartbeat_run.run_id AND r.worker = heartbeat_run.worker
       AND r.claimed_by = session_user AND r.state = 'running';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.heartbeat_run(bigint, text, interval) IS
'Renews the lease of a run this worker and login role claimed, to now() + lease. False (and nothing changed) when the run is not theirs any more: taken over, finished, or claimed by someone else.';

CREATE FUNCTION smt.succeed_run(run_id bigint, worker text, counts jsonb) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    succeeded_job bigint;
BEGIN
    UPDATE smt.job_run r
       SET state = 'succeeded', finished_at = now(), lease_until = NULL, counts = succeed_run.counts
     WHERE r.run_id = succeed_run.run_id AND r.worker = succeed_run.worker
       AND r.claimed_by = session_user AND r.state = 'running'
 RETURNING r.job_id INTO succeeded_job;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE smt.job j SET consecutive_failures = 0, last_error = NULL WHERE j.job_id = succeeded_job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.succeed_run(bigint, text, jsonb) IS
'Records the success of a run this worker and login role hold, with what it did (counts), and clears the job''s failure count and last error. False (and nothing changed) when the run is not theirs.';

CREATE FUNCTION smt.fail_run(run_id bigint, worker text, error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    run smt.job_run;
    job smt.job;
BEGIN
    UPDATE smt.job_run r
       SET state = 'failed', finished_at = now(), lease_until = NULL, error = fail_run.error
     WHERE r.run_id = fail_run.run_id AND r.worker = fail_run.worker
       AND r.claimed_by = session_user AND r.state = 'running'
 RETURNING r.* INTO run;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE smt.job j
       SET consecutive_failures = j.consecutive_failures + 1, last_error = fail_run.error,
           failed_at = CASE WHEN run.attempt >= j.max_attempts THEN now() ELSE j.failed_at END
     WHERE j.job_id = run.job_id
 RETURNING j.* INTO job;
    IF run.attempt < job.max_attempts THEN
        INSERT INTO smt.job_run (job_id, scheduled_for, attempt, not_before)
        VALUES (run.job_id, run.scheduled_for, run.attempt + 1,
                now() + smt.retry_backoff(job.retry_delay, job.max_retry_delay, run.attempt))
        ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.fail_run(bigint, text, text) IS
'Records the failure of a run this worker and login role hold and, all or nothing, queues the next attempt after smt.retry_backoff, or, when that was the last of max_attempts, marks the job failed (failed_at, last_error). False (and nothing changed) when the run is not theirs.';

-- ---------------------------------------------------------------------------------------------
-- Worker protocol: deliveries.

CREATE FUNCTION smt.delivery_seen(
    source text, directory text, name text, size_bytes bigint, modified_at timestamptz
) RETURNS smt.delivery
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    d smt.delivery;
BEGIN
    INSERT INTO smt.remote_file (source, directory, name, size_bytes, modified_at, registered_by)
    VALUES (delivery_seen.source, delivery_seen.directory, delivery_seen.name, delivery_seen.size_bytes,
            delivery_seen.modified_at, session_user)
    ON CONFLICT (source, directory, name, size_bytes, modified_at, registered_by) DO NOTHING;
    SELECT r.remote_file_id, r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state,
           r.local_path, r.error, r.registered_by
      INTO d
      FROM smt.remote_file r
     WHERE r.source = delivery_seen.source AND r.directory = delivery_seen.directory
       AND r.name = delivery_seen.name AND r.size_bytes = delivery_seen.size_bytes
       AND r.modified_at IS NOT DISTINCT FROM delivery_seen.modified_at AND r.registered_by = session_user;
    RETURN d;
END
$$;
COMMENT ON FUNCTION smt.delivery_seen(text, text, text, bigint, timestamptz) IS
'Registers a file a listing of source showed (state seen, registered by the calling login role), unless this role registered this name, size and modification time already. Returns the role''s delivery, new or as it was.';

CREATE FUNCTION smt.delivery_imported(
    source text, directory text, name text, size_bytes bigint, modified_at timestamptz, local_path text,
    retry boolean DEFAULT true
) RETURNS smt.delivery
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    d smt.delivery;
BEGIN
    INSERT INTO smt.remote_file AS r
           (source, directory, name, size_bytes, modified_at, state, local_path, fetched_at, registered_by)
    VALUES (delivery_imported.source, delivery_imported.directory, delivery_imported.name,
            delivery_imported.size_bytes, delivery_imported.modified_at, 'fetched', delivery_imported.local_path,
            now(), session_user)
    ON CONFLICT (source, directory, name, size_bytes, modified_at, registered_by) DO UPDATE
       SET state = 'fetched', local_path = excluded.local_path, error = NULL
     WHERE delivery_imported.retry AND r.registered_by = session_user AND r.state <> 'loaded';
    SELECT r.remote_file_id, r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state,
           r.local_path, r.error, r.registered_by
      INTO d
      FROM smt.remote_file r
     WHERE r.source = delivery_imported.source AND r.directory = delivery_imported.directory
       AND r.name = delivery_imported.name AND r.size_bytes = delivery_imported.size_bytes
       AND r.modified_at IS NOT DISTINCT FROM delivery_imported.modified_at AND r.registered_by = session_user;
    RETURN d;
END
$$;
COMMENT ON FUNCTION smt.delivery_imported(text, text, text, bigint, timestamptz, text, boolean) IS
'Registers a local file straight as fetched (kept at local_path), for `smt import` and import_dir jobs. A delivery this login role registered already is returned as it is when it is loaded or retry is false (import_dir: a quarantined file waits for smt.delivery_retry); otherwise (retry, `smt import` of a file again) it is queued again as fetched from local_path.';

CREATE FUNCTION smt.deliveries(source text, state text) RETURNS SETOF smt.delivery
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF deliveries.state IS NULL OR deliveries.state NOT IN ('seen', 'fetched', 'loaded', 'quarantined') THEN
        RAISE EXCEPTION 'smt.deliveries: no delivery state %', coalesce(quote_literal(deliveries.state), 'NULL')
              USING ERRCODE = 'invalid_parameter_value', HINT = 'The states are seen, fetched, loaded and quarantined.';
    END IF;
    RETURN QUERY
    SELECT r.remote_file_id, r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state,
           r.local_path, r.error, r.registered_by
      FROM smt.remote_file r
     WHERE r.source = deliveries.source AND r.state = deliveries.state AND r.registered_by = session_user
     ORDER BY r.modified_at, r.name, r.remote_file_id;
END
$$;
COMMENT ON FUNCTION smt.deliveries(text, text) IS
'The deliveries of source in state that the calling login role registered (the ones it may move on), oldest (modified_at) first, then by name.';

CREATE FUNCTION smt.delivery_fetched(remote_file_id bigint, local_path text, sha256 bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.remote_file r
       SET state = 'fetched', fetched_at = now(), local_path = delivery_fetched.local_path,
           sha256 = delivery_fetched.sha256
     WHERE r.remote_file_id = delivery_fetched.remote_file_id AND r.registered_by = session_user
       AND r.state = 'seen';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.delivery_fetched(bigint, text, bytea) IS
'Marks a seen delivery of the calling login role fetched: downloaded to local_path, with the SHA-256 of its bytes. False (and nothing changed) when it is not theirs or not seen.';

CREATE FUNCTION smt.delivery_loaded(remote_file_id bigint, file_ids bigint[], sha256 bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    missing bigint;
BEGIN
    IF delivery_loaded.file_ids IS NULL THEN
        RAISE EXCEPTION 'smt.delivery_loaded needs the file ids of the delivery''s reports'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT u.id INTO missing
      FROM unnest(delivery_loaded.file_ids) AS u(id)
     WHERE u.id IS NULL OR NOT EXISTS (SELECT FROM smt.file f WHERE f.file_id = u.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'smt.delivery_loaded: file % is not in smt.file', coalesce(missing::text, 'NULL')
              USING ERRCODE = 'foreign_key_violation',
                    HINT = 'Pass the file_id values smt.load returned for the delivery''s reports, in the same transaction.';
    END IF;
    UPDATE smt.remote_file r
       SET state = 'loaded', loaded_at = now(), file_ids = delivery_loaded.file_ids,
           sha256 = delivery_loaded.sha256, error = NULL
     WHERE r.remote_file_id = delivery_loaded.remote_file_id AND r.registered_by = session_user
       AND r.state IN ('fetched', 'loaded', 'quarantined');
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- The file a request SMT answers later (deliveryMode FTP) was waiting for.
    PERFORM smt._fulfil_by_delivery(delivery_loaded.remote_file_id);
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.delivery_loaded(bigint, bigint[], bytea) IS
'Marks a fetched delivery of the calling login role loaded, with the smt.file rows of its reports (each must exist) and the SHA-256 of its bytes, and fulfils the requests waiting for it (their correlationId in its name). Call it in the transaction that loaded the reports, so both commit together. False (and nothing changed) when it is not theirs or was never fetched.';

CREATE FUNCTION smt.delivery_keep(remote_file_id bigint, part integer, data bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF delivery_keep.part IS NULL OR delivery_keep.part < 0 OR delivery_keep.data IS NULL
       OR octet_length(delivery_keep.data) > 8388608 THEN
        RAISE EXCEPTION 'smt.delivery_keep needs a part number from 0 and at most 8 MiB of bytes'
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM smt.remote_file r
                    WHERE r.remote_file_id = delivery_keep.remote_file_id AND r.registered_by = session_user) THEN
        RETURN false;
    END IF;
    INSERT INTO smt.delivery_content (remote_file_id, part, data)
    VALUES (delivery_keep.remote_file_id, delivery_keep.part, delivery_keep.data)
    ON CONFLICT (remote_file_id, part) DO UPDATE SET data = excluded.data;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.delivery_keep(bigint, integer, bytea) IS
'Keeps one part (at most 8 MiB, numbered from 0) of a delivery of the calling login role as received, in smt.delivery_content; a part kept before is replaced. False (and nothing kept) when the delivery is not theirs.';

CREATE FUNCTION smt.delivery_bytes(remote_file_id bigint) RETURNS bytea
LANGUAGE sql STABLE
RETURN (SELECT string_agg(c.data, '\x'::bytea ORDER BY c.part)
          FROM smt.delivery_content c WHERE c.remote_file_id = delivery_bytes.remote_file_id);
COMMENT ON FUNCTION smt.delivery_bytes(bigint) IS 'The bytes of a kept delivery exactly as received (its parts in smt.delivery_content, in order); NULL when none are kept. For deliveries under 1 GB; needs SELECT on smt.delivery_content.';

CREATE FUNCTION smt.delivery_quarantined(remote_file_id bigint, error text, sha256 bytea DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.remote_file r
       SET state = 'quarantined', error = delivery_quarantined.error,
           sha256 = coalesce(delivery_quarantined.sha256, r.sha256)
     WHERE r.remote_file_id = delivery_quarantined.remote_file_id AND r.registered_by = session_user
       AND r.state IN ('fetched', 'quarantined');
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.delivery_quarantined(bigint, text, bytea) IS
'Quarantines a fetched delivery of the calling login role that could not be decrypted, unzipped, read or loaded, with why (and the SHA-256 of its bytes when known). It is kept and never blocks the others; smt.delivery_retry queues it again. False (and nothing changed) when it is not theirs or not fetched (a loaded delivery stays loaded).';

-- ---------------------------------------------------------------------------------------------
-- Administration (`smt jobs`, DBAs): with the caller's own table privileges.

CREATE FUNCTION smt.job_add(
    name text, kind text, schedule text, params jsonb DEFAULT '{}', time_zone text DEFAULT 'America/Chicago',
    max_attempts integer DEFAULT 5
) RETURNS smt.job
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    IF NOT EXISTS (SELECT FROM smt.job_kind k WHERE k.kind = job_add.kind) THEN
        RAISE EXCEPTION 'unknown job kind %', quote_literal(job_add.kind)
              USING ERRCODE = 'foreign_key_violation',
                    HINT = format('The kinds are %s; a new one needs a row in smt.job_kind.',
                                  (SELECT string_agg(k.kind, ', ' ORDER BY k.kind) FROM smt.job_kind k));
    END IF;
    INSERT INTO smt.job (name, kind, schedule, params, time_zone, max_attempts)
    VALUES (job_add.name, job_add.kind, job_add.schedule, coalesce(job_add.params, '{}'),
            coalesce(job_add.time_zone, 'America/Chicago'), coalesce(job_add.max_attempts, 5))
    RETURNING * INTO job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_add(text, text, text, jsonb, text, integer) IS
'Adds a job (`smt jobs add`): the schedule is checked and next_run_at computed. Returns the new row. Other settings (retry_delay, max_retry_delay, enabled) are changed with UPDATE.';

-- The job of that name, for the admin functions below; raises no_data_found when there is none.
CREATE FUNCTION smt.job_named(name text) RETURNS smt.job
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    SELECT j.* INTO job FROM smt.job j WHERE j.name = job_named.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job named %', coalesce(quote_literal(job_named.name), 'NULL')
              USING ERRCODE = 'no_data_found', HINT = '`smt jobs list` (or SELECT name FROM smt.job_status) shows the jobs.';
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_named(text) IS
'The job of that name; raises no_data_found (P0002) with a hint when there is none.';

CREATE FUNCTION smt.job_enable(name text) RETURNS smt.job
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    job := smt.job_named(job_enable.name);
    UPDATE smt.job j SET enabled = true, failed_at = NULL, consecutive_failures = 0
     WHERE j.job_id = job.job_id
 RETURNING j.* INTO job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_enable(text) IS
'Enables a job and clears its failure (failed_at, consecutive_failures), so a job that kept failing runs again at its next scheduled time (`smt jobs enable`). Returns the row; no_data_found for an unknown name.';

CREATE FUNCTION smt.job_disable(name text) RETURNS smt.job
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    job := smt.job_named(job_disable.name);
    UPDATE smt.job j SET enabled = false
     WHERE j.job_id = job.job_id
 RETURNING j.* INTO job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_disable(text) IS
'Disables a job: it is not queued, and its queued runs are not claimed, until enabled again (`smt jobs disable`). Returns the row; no_data_found for an unknown name.';

CREATE FUNCTION smt.job_run_now(name text) RETURNS smt.job
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    job := smt.job_named(job_run_now.name);
    UPDATE smt.job j SET next_run_at = now()
     WHERE j.job_id = job.job_id
 RETURNING j.* INTO job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_run_now(text) IS
'Makes a job due now: the next worker poll queues a run (`smt jobs run-now`). A failed job stays failed until enabled. Returns the row; no_data_found for an unknown name.';

CREATE FUNCTION smt.job_delete(name text) RETURNS smt.job
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    job smt.job;
BEGIN
    job := smt.job_named(job_delete.name);
    DELETE FROM smt.job j WHERE j.job_id = job.job_id;
    RETURN job;
END
$$;
COMMENT ON FUNCTION smt.job_delete(text) IS
'Deletes a job and its runs (`smt jobs delete`); the files it loaded and the deliveries it registered stay. Returns the deleted row; no_data_found for an unknown name.';

CREATE FUNCTION smt.delivery_retry(remote_file_id bigint) RETURNS smt.delivery
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    d smt.delivery;
    was text;
BEGIN
    SELECT r.state INTO was FROM smt.remote_file r WHERE r.remote_file_id = delivery_retry.remote_file_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no delivery %', delivery_retry.remote_file_id
              USING ERRCODE = 'no_data_found', HINT = '`smt deliveries list` (SELECT remote_file_id, name, state FROM smt.delivery_log) shows them.';
    END IF;
    IF was <> 'quarantined' THEN
        RAISE EXCEPTION 'delivery % is %, not quarantined', delivery_retry.remote_file_id, was
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Only quarantined deliveries are retried; seen and fetched ones are next in line anyway.';
    END IF;
    UPDATE smt.remote_file r
       SET state = CASE WHEN r.local_path IS NULL THEN 'seen' ELSE 'fetched' END, error = NULL
     WHERE r.remote_file_id = delivery_retry.remote_file_id
 RETURNING r.remote_file_id, r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state,
           r.local_path, r.error, r.registered_by
      INTO d;
    RETURN d;
END
$$;
COMMENT ON FUNCTION smt.delivery_retry(bigint) IS
'Queues a quarantined delivery again after its cause was fixed (a key configured, a file replaced): it becomes fetched (seen when it was never downloaded), and the next run of its job by the role that registered it loads it. For admins; raises no_data_found for an unknown id and object_not_in_prerequisite_state when it is not quarantined.';

-- ---------------------------------------------------------------------------------------------
-- Reading (`smt status`, `smt jobs list`, BI): views with the reader's own privileges.

CREATE VIEW smt.job_status WITH (security_invoker = true) AS
SELECT j.job_id, j.name, j.kind, j.schedule, j.time_zone, j.enabled, j.next_run_at,
       j.failed_at IS NOT NULL AS failed, j.failed_at, j.consecutive_failures, j.last_error,
       j.max_attempts, j.retry_delay, j.max_retry_delay,
       last.state AS last_run_state, last.finished_at AS last_run_finished_at,
       j.created_at, j.updated_at, j.params
  FROM smt.job j
  LEFT JOIN LATERAL (
      SELECT r.state, r.finished_at FROM smt.job_run r WHERE r.job_id = j.job_id ORDER BY r.run_id DESC LIMIT 1
  ) last ON true;
COMMENT ON VIEW smt.job_status IS 'Every job with its schedule, next run, failure state and last run (`smt jobs list`).';
COMMENT ON COLUMN smt.job_status.job_id IS 'Identifier of the job.';
COMMENT ON COLUMN smt.job_status.name IS 'Unique name of the job.';
COMMENT ON COLUMN smt.job_status.kind IS 'What it does (smt.job_kind).';
COMMENT ON COLUMN smt.job_status.schedule IS 'Crontab line.';
COMMENT ON COLUMN smt.job_status.time_zone IS 'Time zone the schedule is read in.';
COMMENT ON COLUMN smt.job_status.enabled IS 'Whether it runs.';
COMMENT ON COLUMN smt.job_status.next_run_at IS 'When it is next due.';
COMMENT ON COLUMN smt.job_status.failed IS 'True when it kept failing and waits to be re-enabled.';
COMMENT ON COLUMN smt.job_status.failed_at IS 'When it was marked failed.';
COMMENT ON COLUMN smt.job_status.consecutive_failures IS 'Failed attempts since the last success.';
COMMENT ON COLUMN smt.job_status.last_error IS 'Error of the last failed attempt.';
COMMENT ON COLUMN smt.job_status.max_attempts IS 'Attempts of one scheduled run before the job is marked failed.';
COMMENT ON COLUMN smt.job_status.retry_delay IS 'Delay before the first retry (doubled for each further one).';
COMMENT ON COLUMN smt.job_status.max_retry_delay IS 'Longest delay between two attempts.';
COMMENT ON COLUMN smt.job_status.last_run_state IS 'State of its latest run (queued, running, succeeded, failed), NULL if it never ran.';
COMMENT ON COLUMN smt.job_status.last_run_finished_at IS 'When its latest run finished.';
COMMENT ON COLUMN smt.job_status.created_at IS 'When the job was created.';
COMMENT ON COLUMN smt.job_status.updated_at IS 'When the job was last changed.';
COMMENT ON COLUMN smt.job_status.params IS 'Settings of the job (names of what the worker''s config file defines).';

CREATE VIEW smt.run_log WITH (security_invoker = true) AS
SELECT r.run_id, r.job_id, j.name AS job_name, j.kind, r.scheduled_for, r.attempt, r.state, r.not_before,
       r.worker, r.claimed_by, r.started_at, r.heartbeat_at, r.lease_until, r.finished_at, r.takeovers,
       r.error, r.counts
  FROM smt.job_run r
  JOIN smt.job j ON j.job_id = r.job_id;
COMMENT ON VIEW smt.run_log IS 'Every run of every job with its job''s name and its outcome (`smt status`).';
COMMENT ON COLUMN smt.run_log.run_id IS 'Identifier of the run (increasing: ORDER BY run_id DESC for the latest).';
COMMENT ON COLUMN smt.run_log.job_id IS 'The job.';
COMMENT ON COLUMN smt.run_log.job_name IS 'Name of the job.';
COMMENT ON COLUMN smt.run_log.kind IS 'Kind of the job.';
COMMENT ON COLUMN smt.run_log.scheduled_for IS 'The scheduled time the run is for.';
COMMENT ON COLUMN smt.run_log.attempt IS 'Attempt number for that time.';
COMMENT ON COLUMN smt.run_log.state IS 'queued, running, succeeded or failed.';
COMMENT ON COLUMN smt.run_log.not_before IS 'Earliest start.';
COMMENT ON COLUMN smt.run_log.worker IS 'Worker (host:pid) running or last running it.';
COMMENT ON COLUMN smt.run_log.claimed_by IS 'Login role of that worker.';
COMMENT ON COLUMN smt.run_log.started_at IS 'When the current worker started it.';
COMMENT ON COLUMN smt.run_log.heartbeat_at IS 'Last heartbeat.';
COMMENT ON COLUMN smt.run_log.lease_until IS 'When the worker''s claim expires unless renewed.';
COMMENT ON COLUMN smt.run_log.finished_at IS 'When it finished.';
COMMENT ON COLUMN smt.run_log.takeovers IS 'Times it was taken over from a worker that stopped.';
COMMENT ON COLUMN smt.run_log.error IS 'Why it failed.';
COMMENT ON COLUMN smt.run_log.counts IS 'What it did (files listed, fetched, loaded, quarantined; load counts).';

CREATE VIEW smt.file_log WITH (security_invoker = true) AS
SELECT f.file_id, f.name, f.format, f.state, f.records, f.inserted, f.replaced, f.stale, f.identical,
       f.conflicts, f.rejected, f.error, f.loaded_at, f.loaded_by
  FROM smt.file f;
COMMENT ON VIEW smt.file_log IS 'Every file given to smt.load with what loading it did, without its bytes (`smt status`).';
COMMENT ON COLUMN smt.file_log.file_id IS 'Identifier of the file (increasing: ORDER BY file_id DESC for the latest).';
COMMENT ON COLUMN smt.file_log.name IS 'File name as given to smt.load.';
COMMENT ON COLUMN smt.file_log.format IS 'Detected format (lse, interval_csv, interval_json, ...), NULL if unknown.';
COMMENT ON COLUMN smt.file_log.state IS 'loading, loaded or failed.';
COMMENT ON COLUMN smt.file_log.records IS 'Good records in the file.';
COMMENT ON COLUMN smt.file_log.inserted IS 'Records for ESIID-channel-days not stored before.';
COMMENT ON COLUMN smt.file_log.replaced IS 'Records that replaced an older stored version.';
COMMENT ON COLUMN smt.file_log.stale IS 'Records older than the stored version.';
COMMENT ON COLUMN smt.file_log.identical IS 'Records equal to the stored version.';
COMMENT ON COLUMN smt.file_log.conflicts IS 'Records with the stored revision but other values (settled by the tie-break rule).';
COMMENT ON COLUMN smt.file_log.rejected IS 'Bad records (smt.reject_log).';
COMMENT ON COLUMN smt.file_log.error IS 'Why a failed file could not be loaded.';
COMMENT ON COLUMN smt.file_log.loaded_at IS 'When it was loaded.';
COMMENT ON COLUMN smt.file_log.loaded_by IS 'Login role that loaded it.';

CREATE VIEW smt.reject_log WITH (security_invoker = true) AS
SELECT r.reject_id, r.file_id, f.name AS file_name, r.line, r.field, r.kind, r.reason, r.raw, r.rejected_at,
       r.esiid, r.channel, r.day
  FROM smt.reject r
  JOIN smt.file f ON f.file_id = r.file_id;
COMMENT ON VIEW smt.reject_log IS 'Every rejected record with the name of its file (`smt status`).';
COMMENT ON COLUMN smt.reject_log.reject_id IS 'Identifier of the reject (increasing: ORDER BY reject_id DESC for the latest).';
COMMENT ON COLUMN smt.reject_log.file_id IS 'File the record came from.';
COMMENT ON COLUMN smt.reject_log.file_name IS 'Name of that file.';
COMMENT ON COLUMN smt.reject_log.line IS '1-based line of the offending row.';
COMMENT ON COLUMN smt.reject_log.field IS 'Field or row at fault.';
COMMENT ON COLUMN smt.reject_log.kind IS 'Kind of fault.';
COMMENT ON COLUMN smt.reject_log.reason IS 'What is wrong.';
COMMENT ON COLUMN smt.reject_log.raw IS 'The offending row as delivered.';
COMMENT ON COLUMN smt.reject_log.rejected_at IS 'When it was rejected.';
COMMENT ON COLUMN smt.reject_log.esiid IS 'ESIID of the record, when known.';
COMMENT ON COLUMN smt.reject_log.channel IS 'Channel of the record, when known.';
COMMENT ON COLUMN smt.reject_log.day IS 'Operating day of the record, when known.';

CREATE VIEW smt.delivery_log WITH (security_invoker = true) AS
SELECT r.remote_file_id, r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state, r.error,
       r.first_seen_at, r.fetched_at, r.loaded_at, r.registered_by
  FROM smt.remote_file r;
COMMENT ON VIEW smt.delivery_log IS 'Every delivery seen or imported, with its state (`smt status` shows the quarantined ones and how to retry them).';
COMMENT ON COLUMN smt.delivery_log.remote_file_id IS 'Identifier, as `smt deliveries retry` and smt.delivery_retry take it.';
COMMENT ON COLUMN smt.delivery_log.source IS 'Where it was seen (ftps://user@host:port, dir:///path, import).';
COMMENT ON COLUMN smt.delivery_log.directory IS 'Remote (or local) directory.';
COMMENT ON COLUMN smt.delivery_log.name IS 'File name.';
COMMENT ON COLUMN smt.delivery_log.size_bytes IS 'Size as listed.';
COMMENT ON COLUMN smt.delivery_log.modified_at IS 'Modification time as listed.';
COMMENT ON COLUMN smt.delivery_log.state IS 'seen, fetched, loaded or quarantined.';
COMMENT ON COLUMN smt.delivery_log.error IS 'Why it is quarantined, if it is.';
COMMENT ON COLUMN smt.delivery_log.first_seen_at IS 'When a listing first showed it.';
COMMENT ON COLUMN smt.delivery_log.fetched_at IS 'When it was downloaded.';
COMMENT ON COLUMN smt.delivery_log.loaded_at IS 'When its reports were loaded.';
COMMENT ON COLUMN smt.delivery_log.registered_by IS 'Login role of the worker that registered it.';

CREATE VIEW smt.stale_remote_file WITH (security_invoker = true) AS
SELECT r.source, r.directory, r.name, r.size_bytes, r.modified_at, r.state, r.error,
       r.modified_at + interval '10 days' AS deleted_from_smt_at, r.remote_file_id
  FROM smt.remote_file r
 WHERE r.state <> 'loaded' AND r.modified_at < now() - interval '7 days';
COMMENT ON VIEW smt.stale_remote_file IS 'Remote files older than 7 days that are not loaded: SMT deletes files after 10 days, so these need attention now (a quarantined one is queued again with smt.delivery_retry(remote_file_id)).';
COMMENT ON COLUMN smt.stale_remote_file.source IS 'Remote site.';
COMMENT ON COLUMN smt.stale_remote_file.directory IS 'Remote directory.';
COMMENT ON COLUMN smt.stale_remote_file.name IS 'Remote file name.';
COMMENT ON COLUMN smt.stale_remote_file.size_bytes IS 'Size on the remote site.';
COMMENT ON COLUMN smt.stale_remote_file.modified_at IS 'Modification time on the remote site.';
COMMENT ON COLUMN smt.stale_remote_file.state IS 'seen, fetched or quarantined.';
COMMENT ON COLUMN smt.stale_remote_file.error IS 'Why it is quarantined, if it is.';
COMMENT ON COLUMN smt.stale_remote_file.deleted_from_smt_at IS 'When SMT will have deleted it (10 days after posting).';
COMMENT ON COLUMN smt.stale_remote_file.remote_file_id IS 'Identifier, for smt.delivery_retry.';
