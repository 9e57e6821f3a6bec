-- Requests for data made to SMT, and their fate: one row per ask, from smt.request_usage until it
-- is fulfilled, fails or is cancelled, readable by anyone with smt_reader (smt.request_log).
-- Today's SMT answers through its JSON API (via 'json', the worker's job kind smt_api); the seeds'
-- SOAP API (via 'soap', job kind soap_api) answers the same rows, at once with a file or later with
-- a file on the FTPS site.
--
-- States:
--   queued     asked, not yet sent;
--   sent       a worker holds it (until lease_until; a worker that died loses it to another);
--   waiting    SMT has no data yet ("No data received from the respective TDSP"), a failure a
--              retry can help (SMT down, a timeout), an on-demand read SMT is still taking, or
--              the day's on-demand reads for the TDSP used up: tried again from not_before;
--              or SMT accepted it and delivers files later (awaiting_files; sent again after
--              10 days without them);
--   fulfilled  every reply loaded (file_ids: the files in smt.file that hold them), or the
--              on-demand read taken (smt.meter_read);
--   failed     SMT refused it, its reply could not be read, or max_attempts were used up;
--   cancelled  by smt.request_cancel.
-- The worker changes a row only through the worker functions below (SECURITY DEFINER, for
-- smt_loader, acting only on requests it claimed); people use smt.request_usage and
-- smt.request_cancel with their own privileges (smt_admin).

CREATE TABLE smt.request (
    request_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    via            text NOT NULL,
    report         text NOT NULL,
    esiids         text[] NOT NULL,
    meter_number   text,
    first_day      date NOT NULL,
    last_day       date NOT NULL,
    state          text NOT NULL DEFAULT 'queued',
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 10,
    not_before     timestamptz NOT NULL DEFAULT now(),
    trans_id       text,
    correlation_ids text[] NOT NULL DEFAULT '{}',
    awaiting_files text[] NOT NULL DEFAULT '{}',
    sent_at        timestamptz,
    worker         text,
    claimed_by     text,
    lease_until    timestamptz,
    last_error     text,
    file_ids       bigint[] NOT NULL DEFAULT '{}',
    requested_by   text NOT NULL DEFAULT session_user,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    fulfilled_at   timestamptz,
    CONSTRAINT request_via CHECK (via IN ('json', 'soap')),
    CONSTRAINT request_report CHECK (report IN ('interval', 'daily', 'monthly', 'odr')),
    CONSTRAINT request_odr CHECK (report <> 'odr' OR (cardinality(esiids) = 1 AND meter_number IS NOT NULL)),
    CONSTRAINT request_days CHECK (first_day <= last_day),
    CONSTRAINT request_esiids CHECK (cardinality(esiids) BETWEEN 1 AND 50000),
    CONSTRAINT request_state CHECK (state IN ('queued', 'sent', 'waiting', 'fulfilled', 'failed', 'cancelled')),
    CONSTRAINT request_attempts CHECK (attempts >= 0 AND max_attempts > 0)
);
CREATE INDEX request_due_idx ON smt.request (not_before) WHERE state IN ('queued', 'sent', 'waiting');
CREATE INDEX request_odr_sent_idx ON smt.request (sent_at) WHERE report = 'odr';
COMMENT ON TABLE smt.request IS 'Requests for data made to SMT, one row per ask (smt.request_usage), with their fate. Read smt.request_log; the worker changes rows only through the smt.request_* worker functions.';
COMMENT ON COLUMN smt.request.request_id IS 'Identifier of the request, as smt.request_usage returned it.';
COMMENT ON COLUMN smt.request.via IS 'Which SMT interface sends it: json (today''s JSON API, job kind smt_api) or soap (the seeds'' SOAP ad hoc usage API, job kind soap_api).';
COMMENT ON COLUMN smt.request.report IS 'What is asked for: interval (15-minute reads, into smt.interval_day) or daily (daily meter reads, into smt.daily_read), loaded with replacement semantics like any file; monthly (billed usage, into smt.monthly_usage; via soap); odr (an on-demand read of the meter''s register now, into smt.meter_read).';
COMMENT ON COLUMN smt.request.esiids IS 'The ESIIDs asked for, normalized, each once (up to 50,000, SMT''s limit per request; one for odr).';
COMMENT ON COLUMN smt.request.meter_number IS 'For odr: the meter number SMT asks for with the ESIID; NULL otherwise.';
COMMENT ON COLUMN smt.request.first_day IS 'First operating day asked for (Central prevailing time); for odr the day it was asked.';
COMMENT ON COLUMN smt.request.last_day IS 'Last operating day asked for, included; for odr the day it was asked.';
COMMENT ON COLUMN smt.request.state IS 'queued, sent (a worker holds it), waiting (tried again from not_before), fulfilled, failed or cancelled.';
COMMENT ON COLUMN smt.request.attempts IS 'Times a worker has taken it up.';
COMMENT ON COLUMN smt.request.max_attempts IS 'Attempts after which a request that keeps failing in a retryable way is failed.';
COMMENT ON COLUMN smt.request.not_before IS 'When it may be sent (again).';
COMMENT ON COLUMN smt.request.trans_id IS 'The trans_id sent with the last attempt''s calls (smt-<request_id>-<attempt>), to find them in SMT''s records.';
COMMENT ON COLUMN smt.request.correlation_ids IS 'SMT''s correlationIds: of each call SMT answers later with a file, or of an on-demand read polled for.';
COMMENT ON COLUMN smt.request.awaiting_files IS 'While waiting for files SMT delivers later: what the name of each still to come carries (a correlationId, or the name SMT gave); a delivery loaded whose name carries one fulfils that part (smt._fulfil_by_delivery).';
COMMENT ON COLUMN smt.request.sent_at IS 'For odr: when it was sent to SMT (counted against the day''s on-demand reads of its TDSP).';
COMMENT ON COLUMN smt.request.worker IS 'The worker (host:pid) that last took it up.';
COMMENT ON COLUMN smt.request.claimed_by IS 'The login role of that worker.';
COMMENT ON COLUMN smt.request.lease_until IS 'While sent: when another worker may take it over (its worker is presumed dead).';
COMMENT ON COLUMN smt.request.last_error IS 'SMT''s words or the failure of the last attempt; NULL when it had none.';
COMMENT ON COLUMN smt.request.file_ids IS 'The files (smt.file) that hold the replies loaded for it, each once.';
COMMENT ON COLUMN smt.request.requested_by IS 'Login role that asked.';
COMMENT ON COLUMN smt.request.created_at IS 'When it was asked.';
COMMENT ON COLUMN smt.request.updated_at IS 'When its state last changed.';
COMMENT ON COLUMN smt.request.fulfilled_at IS 'When it was fulfilled.';

SELECT pg_catalog.pg_extension_config_dump('smt.request', '');
SELECT pg_catalog.pg_extension_config_dump('smt.request_request_id_seq', '');

INSERT INTO smt.job_kind (kind, description, builtin) VALUES
    ('smt_api', 'Sends the due requests of smt.request (via json) through today''s SMT JSON API (JWT bearer token) and loads every reply like a delivered file. params: source (the name of an [smt_api.NAME] section in the worker''s config file, which holds the API''s address, the service id, the environment variable holding its password, and the DUNS).', true),
    ('soap_api', 'Sends the due requests of smt.request (via soap) through the seeds'' SMT SOAP ad hoc usage API (mutual TLS, WS-Security UsernameToken), split into calls within SMT''s limits: a file answered at once is fetched and loaded, a correlationId answered waits for its file on the FTPS site (loaded by an ftps_fetch job). params: source (the name of a [soap_api.NAME] section in the worker''s config file, which holds the endpoint, the client certificate, the user and the environment variable holding its password).', true);

-- ---------------------------------------------------------------------------------------------
-- Asking (with the caller's own privileges: INSERT on smt.request, smt_admin's).

CREATE FUNCTION smt.request_usage(esiids text[], report text, first_day date, last_day date, via text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen text := coalesce(request_usage.via, nullif(current_setting('smt.request_via', true), ''), 'json');
    bad text;
    normalized text[];
    today date := smt._tomorrow() - 1;
    request bigint;
BEGIN
    IF esiids IS NULL OR report IS NULL OR first_day IS NULL OR last_day IS NULL THEN
        RAISE EXCEPTION 'smt.request_usage needs ESIIDs, a report and the first and last day, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'SELECT smt.request_usage(ARRAY[''10443720000000001''], ''interval'', date ''2025-09-01'', date ''2025-09-30'');';
    END IF;
    IF chosen NOT IN ('json', 'soap') THEN
        RAISE EXCEPTION 'smt.request_usage: requests via % are not supported', chosen
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Today''s SMT answers through its JSON API (via ''json''); the seeds'' SMT through its SOAP API (via ''soap'').',
                  HINT = 'Leave via NULL (the setting smt.request_via, else json), or pass ''json'' or ''soap''.';
    END IF;
    IF report NOT IN ('interval', 'daily', 'monthly') OR (report = 'monthly' AND chosen <> 'soap') THEN
        RAISE EXCEPTION 'smt.request_usage: report % is not one that can be requested via %', report, chosen
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Ask for ''interval'' (15-minute reads) or ''daily'' (daily meter reads); ''monthly'' (billed usage) via ''soap''.';
    END IF;
    SELECT e INTO bad FROM unnest(esiids) e WHERE e IS NULL OR NOT smt.esiid_valid(e) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'smt.request_usage: % is not a valid ESIID', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    SELECT array_agg(DISTINCT smt.esiid_normalize(e)) INTO normalized FROM unnest(esiids) e;
    IF cardinality(normalized) IS NULL OR cardinality(normalized) > 50000 THEN
        RAISE EXCEPTION 'smt.request_usage: % ESIIDs; a request holds 1 to 50,000', coalesce(cardinality(normalized), 0)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Split the ESIIDs over several requests.';
    END IF;
    IF first_day > last_day OR last_day > today
       OR first_day < (today - CASE WHEN report = 'monthly' THEN interval '24 months' ELSE interval '48 months' END)::date THEN
        RAISE EXCEPTION 'smt.request_usage: days % to % are not within the last % months up to today (%)', first_day, last_day,
                        CASE WHEN report = 'monthly' THEN 24 ELSE 48 END, today
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'SMT keeps 15-minute and daily data for 48 months, monthly usage for 24; a day after today has no data yet.',
                  HINT = 'Ask for first_day <= last_day, both between today less 48 (monthly: 24) months and today (Central time).';
    END IF;
    INSERT INTO smt.request (via, report, esiids, first_day, last_day)
    VALUES (chosen, report, normalized, first_day, last_day)
    RETURNING request_id INTO request;
    RETURN request;
END
$$;
COMMENT ON FUNCTION smt.request_usage(text[], text, date, date, text) IS
'Asks SMT for the 15-minute data (report ''interval''), the daily meter reads (''daily'') or, via soap, the monthly billed usage (''monthly'') of ESIIDs over operating days first_day to last_day; returns the request''s id. The smt worker sends it and loads the replies like any file; smt.request_log shows its fate. via: json (today''s JSON API, job kind smt_api) or soap (the seeds'' SOAP API, job kind soap_api, which splits it into calls within SMT''s limits); default the setting smt.request_via, else json. Checked before anything is sent: valid ESIIDs (1 to 50,000), days within the last 48 months (monthly: 24) up to today.';

CREATE FUNCTION smt.request_meter_read(esiid text, meter_number text DEFAULT NULL, via text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen text := coalesce(request_meter_read.via, nullif(current_setting('smt.request_via', true), ''), 'json');
    normalized text;
    meter text := nullif(btrim(request_meter_read.meter_number), '');
    today date := smt._tomorrow() - 1;
    request bigint;
BEGIN
    IF esiid IS NULL OR NOT smt.esiid_valid(esiid) THEN
        RAISE EXCEPTION 'smt.request_meter_read: % is not a valid ESIID', coalesce(quote_literal(esiid), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    IF chosen <> 'json' THEN
        RAISE EXCEPTION 'smt.request_meter_read: on-demand reads via % are not supported', chosen
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'SMT takes on-demand reads through its JSON API (via ''json'').',
                  HINT = 'Leave via NULL, or pass ''json''.';
    END IF;
    normalized := smt.esiid_normalize(esiid);
    IF meter IS NULL THEN
        SELECT m.meter_number INTO meter FROM smt.meter m WHERE m.esiid = normalized;
    END IF;
    IF meter IS NULL THEN
        RAISE EXCEPTION 'smt.request_meter_read: no meter number for ESIID %', normalized
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'SMT asks for the meter number with the ESIID, and the ESIID is not enrolled (smt.meter).',
                  HINT = 'Pass it: SELECT smt.request_meter_read(''10443720000000001'', ''123456789'');';
    END IF;
    INSERT INTO smt.request (via, report, esiids, meter_number, first_day, last_day, max_attempts)
    VALUES (chosen, 'odr', ARRAY[normalized], meter, today, today, 20)
    RETURNING request_id INTO request;
    RETURN request;
END
$$;
COMMENT ON FUNCTION smt.request_meter_read(text, text, text) IS
'Asks SMT to read a meter''s register now (an on-demand read); returns the request''s id. The meter number is the one given, else the enrolled meter''s (smt.meter). The smt worker (job kind smt_api) sends it within the day''s cap of on-demand reads per TDSP (its account''s odr_daily_limit; SMT allows 3,000 a day per TDSP across all callers), polls until SMT has the read, and stores it in smt.meter_read; smt.request_log shows its fate.';

CREATE FUNCTION smt.request_cancel(request_id bigint) RETURNS smt.request
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q SET state = 'cancelled', lease_until = NULL, updated_at = now()
     WHERE q.request_id = request_cancel.request_id AND q.state IN ('queued', 'waiting', 'sent')
    RETURNING q.* INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.request_cancel: no request % that is still to do', request_cancel.request_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'See smt.request_log: fulfilled, failed and cancelled requests stay as they are.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION smt.request_cancel(bigint) IS 'Cancels a request that is queued, waiting or being sent (a worker holding it stops at its next step); returns it. With the caller''s own privileges (smt_admin).';

-- ---------------------------------------------------------------------------------------------
-- Worker protocol (SECURITY DEFINER, for smt_loader: each acts only on the caller's own claim).

CREATE FUNCTION smt.request_claim(via text, worker text, lease interval) RETURNS SETOF smt.request
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF request_claim.via IS NULL OR request_claim.worker IS NULL OR request_claim.lease IS NULL
       OR request_claim.lease <= interval '0' THEN
        RAISE EXCEPTION 'smt.request_claim needs a via, a worker name and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A request whose worker died (or whose run broke off) with its attempts used up is not sent
    -- again: it fails, saying so.
    UPDATE smt.request r
       SET state = 'failed', lease_until = NULL, updated_at = now(),
           last_error = format('taken up %s times without an answer recorded (the worker stopped or its run failed); last: %s',
                               r.attempts, coalesce(r.last_error, 'no error recorded'))
     WHERE r.via = request_claim.via AND r.state = 'sent' AND r.lease_until < now() AND r.attempts >= r.max_attempts;
    RETURN QUERY
    UPDATE smt.request r
       SET state = 'sent', attempts = r.attempts + 1, worker = request_claim.worker,
           claimed_by = session_user, lease_until = now() + request_claim.lease,
           trans_id = format('smt-%s-%s', r.request_id, r.attempts + 1), updated_at = now()
     WHERE r.request_id = (
           SELECT q.request_id FROM smt.request q
            WHERE q.via = request_claim.via
              -- (a request SMT answers with a file later waits for it with not_before infinity)
              AND ((q.state IN ('queued', 'waiting') AND q.not_before <= now())
                   OR (q.state = 'sent' AND q.lease_until < now()))
            ORDER BY q.not_before, q.request_id
            LIMIT 1
              FOR UPDATE SKIP LOCKED)
    RETURNING r.*;
END
$$;
COMMENT ON FUNCTION smt.request_claim(text, text, interval) IS
'Claims the oldest due request sent via via (queued, waiting past not_before, or sent by a worker whose lease expired) for worker (host:pid) and the calling login role, for lease; returns it with its new trans_id, or no row.';

CREATE FUNCTION smt.request_progress(request_id bigint, worker text, lease interval, file_ids bigint[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET lease_until = now() + request_progress.lease,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(r.file_ids || coalesce(request_progress.file_ids, '{}')) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE r.request_id = request_progress.request_id AND r.worker = request_progress.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_progress(bigint, text, interval, bigint[]) IS
'Renews the claim of a request this worker and login role hold and adds the files loaded for it so far. False when it is not theirs any more (taken over, cancelled): the worker stops.';

CREATE FUNCTION smt.request_fulfilled(request_id bigint, worker text, file_ids bigint[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'fulfilled', lease_until = NULL, last_error = NULL, fulfilled_at = now(), updated_at = now(),
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(r.file_ids || coalesce(request_fulfilled.file_ids, '{}')) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE r.request_id = request_fulfilled.request_id AND r.worker = request_fulfilled.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_fulfilled(bigint, text, bigint[]) IS
'Marks a request this worker and login role hold fulfilled, with the files its replies were loaded as. False when it is not theirs.';

CREATE FUNCTION smt.request_retry(request_id bigint, worker text, error text, delay interval) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q
       SET state = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'waiting' END,
           not_before = now() + greatest(coalesce(request_retry.delay, interval '0'), interval '0'),
           lease_until = NULL, last_error = request_retry.error, updated_at = now()
     WHERE q.request_id = request_retry.request_id AND q.worker = request_retry.worker
       AND q.claimed_by = session_user AND q.state = 'sent'
    RETURNING q.* INTO r;
    RETURN CASE WHEN FOUND THEN r.state END;
END
$$;
COMMENT ON FUNCTION smt.request_retry(bigint, text, text, interval) IS
'Puts a request this worker and login role hold back to waiting, tried again after delay, with why (SMT has no data yet, or a failure a retry can help); failed instead once max_attempts were used. Returns the new state, or NULL when it is not theirs.';

CREATE FUNCTION smt.request_accepted(request_id bigint, worker text, correlation_id text, poll_after interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'waiting', correlation_ids = ARRAY[request_accepted.correlation_id], lease_until = NULL,
           last_error = NULL, updated_at = now(),
           not_before = now() + greatest(coalesce(request_accepted.poll_after, interval '0'), interval '0')
     WHERE r.request_id = request_accepted.request_id AND r.worker = request_accepted.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_accepted(bigint, text, text, interval) IS
'Records that SMT accepted an on-demand read this worker holds under correlation_id: the request waits poll_after before it is polled. False when it is not theirs.';

-- Whether a delivery's name carries what a request waits for: the text, not followed by a letter
-- or digit (so that a name X.CSV.1 is not found in X.CSV.12).
CREATE FUNCTION smt._file_carries(name text, wanted text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT length(wanted) >= 4 AND strpos(name, wanted) > 0
       AND substr(name, strpos(name, wanted) + length(wanted), 1) !~ '[0-9A-Za-z]'
$$;
COMMENT ON FUNCTION smt._file_carries(text, text) IS 'Whether a delivery''s file name carries wanted (a correlationId, or a name SMT gave): found in it and not followed by a letter or digit. Internal to the request functions.';

CREATE FUNCTION smt.request_awaiting_files(request_id bigint, worker text, correlation_ids text[], awaiting text[],
                                           file_ids bigint[])
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
    still text[] := ARRAY(SELECT DISTINCT btrim(a) FROM unnest(coalesce(request_awaiting_files.awaiting, '{}')) a
                           WHERE nullif(btrim(a), '') IS NOT NULL ORDER BY 1);
    early_files bigint[];
BEGIN
    IF EXISTS (SELECT FROM unnest(still) a WHERE length(a) < 4) THEN
        RAISE EXCEPTION 'smt.request_awaiting_files: % is too short to find in a file name', still
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A file SMT already delivered (loaded before this was recorded) counts at once.
    SELECT coalesce(array_agg(DISTINCT f ORDER BY f), '{}') INTO early_files
      FROM smt.remote_file d, unnest(d.file_ids) f
     WHERE d.state = 'loaded' AND EXISTS (SELECT FROM unnest(still) a WHERE smt._file_carries(d.name, a));
    still := ARRAY(SELECT a FROM unnest(still) a
                    WHERE NOT EXISTS (SELECT FROM smt.remote_file d WHERE d.state = 'loaded' AND smt._file_carries(d.name, a))
                    ORDER BY a);
    UPDATE smt.request q
       SET state = CASE WHEN cardinality(still) = 0 THEN 'fulfilled' ELSE 'waiting' END,
           correlation_ids = ARRAY(SELECT DISTINCT c FROM unnest(coalesce(request_awaiting_files.correlation_ids, '{}')) c
                                    WHERE c IS NOT NULL ORDER BY c),
           awaiting_files = still, lease_until = NULL, last_error = NULL, updated_at = now(),
           -- SMT keeps a delivered file 10 days: one not come by then is asked for again
           not_before = CASE WHEN cardinality(still) = 0 THEN q.not_before ELSE now() + interval '10 days' END,
           fulfilled_at = CASE WHEN cardinality(still) = 0 THEN now() END,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(q.file_ids || coalesce(request_awaiting_files.file_ids, '{}')
                                                          || early_files) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE q.request_id = request_awaiting_files.request_id AND q.worker = request_awaiting_files.worker
       AND q.claimed_by = session_user AND q.state = 'sent'
    RETURNING q.* INTO r;
    RETURN CASE WHEN FOUND THEN r.state END;
END
$$;
COMMENT ON FUNCTION smt.request_awaiting_files(bigint, text, text[], text[], bigint[]) IS
'Records what SMT answered a request this worker holds: the files already loaded (file_ids), SMT''s correlationIds, and what the names of the files it delivers later carry (awaiting: correlationIds, or names SMT gave; a delivery already loaded counts at once). The request waits for those deliveries (smt._fulfil_by_delivery) for up to 10 days (SMT keeps files that long; then it is sent again), or is fulfilled when none is to come. Returns the new state, or NULL when it is not theirs.';

-- A delivery just loaded whose name carries what a request waits for fulfils that part of it
-- (called by smt.delivery_loaded); the request is fulfilled when nothing is left to come.
CREATE FUNCTION smt._fulfil_by_delivery(remote_file_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fulfilled integer;
BEGIN
    WITH delivered AS (
        SELECT q.request_id, r.file_ids,
               ARRAY(SELECT a FROM unnest(q.awaiting_files) a WHERE NOT smt._file_carries(r.name, a) ORDER BY a) AS still
          FROM smt.request q
          JOIN smt.remote_file r ON r.remote_file_id = _fulfil_by_delivery.remote_file_id AND r.state = 'loaded'
         WHERE q.state = 'waiting' AND q.report IN ('interval', 'daily', 'monthly')
           AND EXISTS (SELECT FROM unnest(q.awaiting_files) a WHERE smt._file_carries(r.name, a))
           FOR UPDATE OF q
    )
    UPDATE smt.request q
       SET awaiting_files = d.still, updated_at = now(), last_error = NULL,
           state = CASE WHEN cardinality(d.still) = 0 THEN 'fulfilled' ELSE 'waiting' END,
           fulfilled_at = CASE WHEN cardinality(d.still) = 0 THEN now() END,
           not_before = CASE WHEN cardinality(d.still) = 0 THEN q.not_before ELSE now() + interval '10 days' END,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(q.file_ids || d.file_ids) f WHERE f IS NOT NULL ORDER BY f)
      FROM delivered d
     WHERE q.request_id = d.request_id;
    GET DIAGNOSTICS fulfilled = ROW_COUNT;
    RETURN fulfilled;
END
$$;
COMMENT ON FUNCTION smt._fulfil_by_delivery(bigint) IS 'Adds a loaded delivery''s files to every request waiting for a file whose name it carries (a correlationId, or the name SMT gave), and marks fulfilled those with nothing left to come; returns how many requests it changed. Internal to smt.delivery_loaded.';

CREATE FUNCTION smt.request_failed(request_id bigint, worker text, error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'failed', lease_until = NULL, last_error = request_failed.error, updated_at = now()
     WHERE r.request_id = request_failed.request_id AND r.worker = request_failed.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_failed(bigint, text, text) IS
'Marks a request this worker and login role hold failed, with SMT''s words or why (a retry cannot help). False when it is not theirs.';

CREATE FUNCTION smt.request_odr_quota(request_id bigint, worker text, daily_limit integer) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
    tdsp text;
    day_start timestamptz := (smt._tomorrow() - 1)::timestamp AT TIME ZONE 'America/Chicago';
    sent_today bigint;
BEGIN
    SELECT q.* INTO r FROM smt.request q
     WHERE q.request_id = request_odr_quota.request_id AND q.worker = request_odr_quota.worker
       AND q.claimed_by = session_user AND q.state = 'sent' AND q.report = 'odr';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    tdsp := coalesce(smt.esiid_tdsp(r.esiids[1]), 'unknown TDSP');
    -- One sender at a time per TDSP, so two workers cannot both take the last read of the day.
    PERFORM pg_advisory_xact_lock(hashtext('smt.odr_quota'), hashtext(tdsp));
    SELECT count(*) INTO sent_today FROM smt.request q
     WHERE q.report = 'odr' AND q.sent_at >= day_start AND q.request_id <> r.request_id
       AND coalesce(smt.esiid_tdsp(q.esiids[1]), 'unknown TDSP') = tdsp;
    IF sent_today < least(greatest(coalesce(daily_limit, 0), 0), 3000) THEN
        UPDATE smt.request q SET sent_at = now() WHERE q.request_id = r.request_id;
        RETURN true;
    END IF;
    -- Used up: wait for the next operating day; the wait is not an attempt.
    UPDATE smt.request q
       SET state = 'waiting', attempts = greatest(q.attempts - 1, 0), lease_until = NULL, updated_at = now(),
           not_before = smt._tomorrow()::timestamp AT TIME ZONE 'America/Chicago',
           last_error = format('the day''s %s on-demand reads for %s are used up (odr_daily_limit); sent tomorrow', daily_limit, tdsp)
     WHERE q.request_id = r.request_id;
    RETURN false;
END
$$;
COMMENT ON FUNCTION smt.request_odr_quota(bigint, text, integer) IS
'Before the worker sends an on-demand read it holds: true, and the read counted as sent now, when fewer than daily_limit on-demand reads went to the ESIID''s TDSP since midnight Central time; otherwise the request waits for the next day (not counted as an attempt, SMT''s words in last_error) and false. SMT allows 3,000 a day per TDSP across all its callers.';

CREATE TABLE smt.meter_read (
    request_id      bigint PRIMARY KEY REFERENCES smt.request,
    esiid           text NOT NULL,
    meter_number    text NOT NULL,
    registered_read numeric NOT NULL,
    read_at         timestamptz,
    smt_read_date   text NOT NULL,
    smt_status      text,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_read_esiid_idx ON smt.meter_read (esiid, received_at);
COMMENT ON TABLE smt.meter_read IS 'On-demand reads of meters'' registers taken by SMT (smt.request_meter_read), one per request, as SMT sent them.';
COMMENT ON COLUMN smt.meter_read.request_id IS 'The request (smt.request_log) that asked for it.';
COMMENT ON COLUMN smt.meter_read.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_read.meter_number IS 'The meter number it was asked with.';
COMMENT ON COLUMN smt.meter_read.registered_read IS 'The register reading (kWh) exactly as SMT sent it.';
COMMENT ON COLUMN smt.meter_read.read_at IS 'When the meter was read, from SMT''s readDate (Central prevailing time); NULL when SMT''s date could not be read as one.';
COMMENT ON COLUMN smt.meter_read.smt_read_date IS 'readDate as SMT sent it.';
COMMENT ON COLUMN smt.meter_read.smt_status IS 'SMT''s status of the read when it was taken (COMPLETED).';
COMMENT ON COLUMN smt.meter_read.received_at IS 'When the worker stored it.';

SELECT pg_catalog.pg_extension_config_dump('smt.meter_read', '');

CREATE FUNCTION smt.request_read_received(request_id bigint, worker text, registered_read numeric, read_at timestamptz,
                                          smt_read_date text, smt_status text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q
       SET state = 'fulfilled', lease_until = NULL, last_error = NULL, fulfilled_at = now(), updated_at = now()
     WHERE q.request_id = request_read_received.request_id AND q.worker = request_read_received.worker
       AND q.claimed_by = session_user AND q.state = 'sent' AND q.report = 'odr'
    RETURNING q.* INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO smt.meter_read (request_id, esiid, meter_number, registered_read, read_at, smt_read_date, smt_status)
    VALUES (r.request_id, r.esiids[1], r.meter_number, request_read_received.registered_read,
            request_read_received.read_at, request_read_received.smt_read_date, request_read_received.smt_status);
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.request_read_received(bigint, text, numeric, timestamptz, text, text) IS
'Stores the on-demand read SMT took for a request this worker and login role hold (smt.meter_read) and marks the request fulfilled. False when it is not theirs.';

-- ---------------------------------------------------------------------------------------------
-- Reading.

CREATE VIEW smt.request_log WITH (security_invoker = true) AS
SELECT r.request_id, r.via, r.report, cardinality(r.esiids) AS esiid_count, r.esiids, r.meter_number,
       r.first_day, r.last_day, r.state, r.attempts, r.not_before, r.last_error, r.trans_id,
       r.correlation_ids, r.awaiting_files, cardinality(r.file_ids) AS files, r.file_ids, r.requested_by,
       r.created_at, r.fulfilled_at,
       r.state IN ('queued', 'sent', 'waiting')
           AND r.created_at < now() - coalesce(nullif(current_setting('smt.request_overdue_after', true), '')::interval,
                                               interval '2 days') AS overdue
  FROM smt.request r;
COMMENT ON VIEW smt.request_log IS 'Every request made to SMT and its fate, newest last; overdue flags the ones still unfulfilled after the setting smt.request_overdue_after (default 2 days).';
COMMENT ON COLUMN smt.request_log.request_id IS 'Identifier of the request.';
COMMENT ON COLUMN smt.request_log.via IS 'SMT interface that sends it (json or soap).';
COMMENT ON COLUMN smt.request_log.report IS 'What is asked for (interval, daily, monthly, or odr: an on-demand read).';
COMMENT ON COLUMN smt.request_log.esiid_count IS 'How many ESIIDs it asks for.';
COMMENT ON COLUMN smt.request_log.esiids IS 'The ESIIDs it asks for.';
COMMENT ON COLUMN smt.request_log.meter_number IS 'For an on-demand read: the meter number.';
COMMENT ON COLUMN smt.request_log.first_day IS 'First operating day asked for.';
COMMENT ON COLUMN smt.request_log.last_day IS 'Last operating day asked for.';
COMMENT ON COLUMN smt.request_log.state IS 'queued, sent, waiting, fulfilled, failed or cancelled.';
COMMENT ON COLUMN smt.request_log.attempts IS 'Times a worker took it up.';
COMMENT ON COLUMN smt.request_log.not_before IS 'When it is sent (again), while queued or waiting.';
COMMENT ON COLUMN smt.request_log.last_error IS 'SMT''s words or the failure of the last attempt.';
COMMENT ON COLUMN smt.request_log.trans_id IS 'trans_id of the last attempt''s calls.';
COMMENT ON COLUMN smt.request_log.correlation_ids IS 'SMT''s correlationIds, for answers that come later (files, an on-demand read).';
COMMENT ON COLUMN smt.request_log.awaiting_files IS 'What the names of the files still to come carry (correlationIds, or names SMT gave).';
COMMENT ON COLUMN smt.request_log.files IS 'How many files its replies were loaded as.';
COMMENT ON COLUMN smt.request_log.file_ids IS 'Those files (smt.file, smt.file_log).';
COMMENT ON COLUMN smt.request_log.requested_by IS 'Login role that asked.';
COMMENT ON COLUMN smt.request_log.created_at IS 'When it was asked.';
COMMENT ON COLUMN smt.request_log.fulfilled_at IS 'When it was fulfilled.';
COMMENT ON COLUMN smt.request_log.overdue IS 'Still not done after smt.request_overdue_after (default 2 days) from when it was asked.';
