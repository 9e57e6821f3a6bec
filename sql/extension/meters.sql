-- Meters enrolled from SQL: the third-party flow on SMT's agreements API (seeds/000). A user calls
-- smt.enroll(esiid, meter_number, customer_email); the worker (job kind smt_api) sends SMT a new
-- agreement, SMT e-mails the customer, and the worker polls until the customer accepts (active),
-- rejects or lets it expire. Once active, a year of history (15-minute and daily reads) is
-- requested (smt.request), then every day the days since are requested (or, when the worker's
-- account keeps meters current by subscription, SMT delivers each new day over SFTP: see
-- smt.subscription), so the meter stays current unattended. smt.unenroll terminates the agreement. smt.meter_status shows each meter's
-- state, last data day, gaps and what happens next.
--
-- States: pending (to send) -> awaiting_customer (sent; polled) -> active | rejected | expired;
-- failed (SMT refused the agreement itself); terminating (to terminate) -> terminated.

CREATE TABLE smt.meter (
    esiid              text PRIMARY KEY,
    meter_number       text NOT NULL,
    customer_email     text NOT NULL,
    months             integer NOT NULL DEFAULT 12,
    state              text NOT NULL DEFAULT 'pending',
    agreement_number   text,
    state_reason       text,
    not_before         timestamptz NOT NULL DEFAULT now(),
    attempts           integer NOT NULL DEFAULT 0,
    worker             text,
    claimed_by         text,
    lease_until        timestamptz,
    history_from       date,
    requested_through  date,
    gaps_requested_on  date,
    meter_info         jsonb,
    enrolled_by        text NOT NULL DEFAULT session_user,
    enrolled_at        timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT meter_months CHECK (months IN (1, 3, 6, 9, 12, 24, 36)),
    CONSTRAINT meter_state CHECK (state IN ('pending', 'awaiting_customer', 'active', 'rejected', 'expired',
                                            'failed', 'terminating', 'terminated'))
);
COMMENT ON TABLE smt.meter IS 'Meters enrolled with smt.enroll: the agreement with SMT and the customer, and how far data was requested. Read smt.meter_status; the worker changes rows only through the smt.meter_* worker functions.';
COMMENT ON COLUMN smt.meter.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.meter.meter_number IS 'The meter number SMT asks for with the ESIID.';
COMMENT ON COLUMN smt.meter.customer_email IS 'The customer''s e-mail address, to which SMT sends the agreement to accept.';
COMMENT ON COLUMN smt.meter.months IS 'Agreement duration in months (1, 3, 6, 9, 12, 24 or 36, SMT''s choices).';
COMMENT ON COLUMN smt.meter.state IS 'pending, awaiting_customer, active, rejected, expired, failed, terminating or terminated.';
COMMENT ON COLUMN smt.meter.agreement_number IS 'SMT''s agreement number, once sent.';
COMMENT ON COLUMN smt.meter.state_reason IS 'SMT''s words for the state (a rejection, an error), or NULL.';
COMMENT ON COLUMN smt.meter.not_before IS 'When the worker next acts on it (sends, polls, retries).';
COMMENT ON COLUMN smt.meter.attempts IS 'Worker steps taken on it.';
COMMENT ON COLUMN smt.meter.worker IS 'The worker (host:pid) that last took it up.';
COMMENT ON COLUMN smt.meter.claimed_by IS 'The login role of that worker.';
COMMENT ON COLUMN smt.meter.lease_until IS 'While a worker holds it: when another may take it over.';
COMMENT ON COLUMN smt.meter.history_from IS 'The first operating day requested for it (a year before its activation, at most its agreement''s months).';
COMMENT ON COLUMN smt.meter.requested_through IS 'The last operating day requested for it (history, then each day since), or expected from the account''s subscription.';
COMMENT ON COLUMN smt.meter.gaps_requested_on IS 'The last day its missing days were requested again (at most once a day).';
COMMENT ON COLUMN smt.meter.meter_info IS 'SMT''s record of the meter (/v2/meterInfo/: meter number, serial, type), as SMT sent it when the agreement became active; NULL until then or when SMT gave none.';
COMMENT ON COLUMN smt.meter.enrolled_by IS 'Login role that enrolled it.';
COMMENT ON COLUMN smt.meter.enrolled_at IS 'When it was enrolled.';
COMMENT ON COLUMN smt.meter.activated_at IS 'When the customer''s acceptance was seen.';
COMMENT ON COLUMN smt.meter.updated_at IS 'When its state last changed.';

SELECT pg_catalog.pg_extension_config_dump('smt.meter', '');

CREATE FUNCTION smt.enroll(esiid text, meter_number text, customer_email text, months integer DEFAULT 12)
RETURNS smt.meter
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    m smt.meter;
BEGIN
    IF esiid IS NULL OR NOT smt.esiid_valid(esiid) THEN
        RAISE EXCEPTION 'smt.enroll: % is not a valid ESIID', coalesce(quote_literal(esiid), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    IF nullif(btrim(meter_number), '') IS NULL OR customer_email IS NULL OR customer_email !~ '^[^@\s]+@[^@\s]+$'
       OR months IS NULL OR months NOT IN (1, 3, 6, 9, 12, 24, 36) THEN
        RAISE EXCEPTION 'smt.enroll: a meter number, the customer''s e-mail address and an agreement of 1, 3, 6, 9, 12, 24 or 36 months are needed'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('meter number %s, e-mail %s, months %s', coalesce(quote_literal(meter_number), 'NULL'),
                                  coalesce(quote_literal(customer_email), 'NULL'), coalesce(months::text, 'NULL')),
                  HINT = 'SELECT smt.enroll(''10443720000000001'', ''123456789'', ''customer@example.com'', 12);';
    END IF;
    INSERT INTO smt.meter AS t (esiid, meter_number, customer_email, months)
    VALUES (smt.esiid_normalize(enroll.esiid), btrim(enroll.meter_number), btrim(enroll.customer_email), enroll.months)
    ON CONFLICT (esiid) DO UPDATE
       SET meter_number = excluded.meter_number, customer_email = excluded.customer_email, months = excluded.months,
           state = 'pending', agreement_number = NULL, state_reason = NULL, attempts = 0, lease_until = NULL,
           -- the column defaults (now(), session_user): no function in an upsert's SET (Citus)
           not_before = excluded.not_before, enrolled_by = excluded.enrolled_by,
           enrolled_at = excluded.enrolled_at, updated_at = excluded.updated_at
     WHERE t.state IN ('rejected', 'expired', 'failed', 'terminated')
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.enroll: ESIID % is enrolled already', smt.esiid_normalize(enroll.esiid)
            USING ERRCODE = 'unique_violation',
                  HINT = 'See smt.meter_status; a meter whose agreement was rejected, expired, failed or was terminated can be enrolled again.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION smt.enroll(text, text, text, integer) IS
'Enrolls a meter: the smt worker (job kind smt_api) asks SMT for an agreement (SMT e-mails the customer), and once the customer accepts, requests a year of 15-minute and daily data and then every new day. Returns the meter''s row; smt.meter_status shows its progress. With the caller''s own privileges (smt_admin).';

CREATE FUNCTION smt.unenroll(esiid text) RETURNS smt.meter
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m smt.meter;
BEGIN
    UPDATE smt.meter t
       SET state = CASE WHEN t.agreement_number IS NULL THEN 'terminated' ELSE 'terminating' END,
           not_before = now(), lease_until = NULL, updated_at = now()
     WHERE t.esiid = smt.esiid_normalize(unenroll.esiid) AND t.state IN ('pending', 'awaiting_customer', 'active', 'failed')
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.unenroll: no enrolled meter %', unenroll.esiid
            USING ERRCODE = 'no_data_found', HINT = 'See smt.meter_status.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION smt.unenroll(text) IS 'Stops keeping a meter current: its agreement is terminated with SMT by the worker (at once when none was made yet). Data loaded stays. With the caller''s own privileges (smt_admin).';

-- Worker protocol (SECURITY DEFINER, for smt_loader).

-- A claim is a pick and a conditional update, not SELECT … FOR UPDATE SKIP LOCKED: on Citus, where
-- smt.meter is distributed by ESIID, a multi-shard query cannot lock rows. The update repeats the
-- pick's conditions, so a meter another worker took meanwhile is not taken twice (a single node
-- re-checks them on the newest row version once the other claim commits); the loop then picks
-- again, and that other claim is gone from the next pick. Bounded, in case claims keep racing.
CREATE FUNCTION smt.meter_claim(worker text, lease interval, due_by timestamptz) RETURNS SETOF smt.meter
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    at timestamptz := now();
    candidate text;
    claimed smt.meter;
BEGIN
    FOR attempt IN 1..32 LOOP
        SELECT q.esiid INTO candidate FROM smt.meter q
         WHERE q.state IN ('pending', 'awaiting_customer', 'terminating')
           AND q.not_before <= least(at, meter_claim.due_by)
           AND (q.lease_until IS NULL OR q.lease_until < at)
         ORDER BY q.not_before, q.esiid
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        UPDATE smt.meter m
           SET worker = meter_claim.worker, claimed_by = session_user, lease_until = at + meter_claim.lease,
               attempts = m.attempts + 1
         WHERE m.esiid = candidate
           AND m.state IN ('pending', 'awaiting_customer', 'terminating')
           AND m.not_before <= least(at, meter_claim.due_by)
           AND (m.lease_until IS NULL OR m.lease_until < at)
        RETURNING m.* INTO claimed;
        IF FOUND THEN
            RETURN NEXT claimed;
            RETURN;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION smt.meter_claim(text, interval, timestamptz) IS 'Claims a meter whose agreement step (to send, to poll, to terminate) was due by due_by (a run passes its start, so it takes each meter once) for worker and the calling login role, for lease; no row when none is due.';

CREATE FUNCTION smt.meter_update(esiid text, worker text, state text, agreement_number text, reason text,
                                 next_step interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    m smt.meter;
    -- now() taken once: Citus refuses a non-IMMUTABLE function inside CASE in an UPDATE's SET.
    at timestamptz := now();
    yesterday date := smt._tomorrow() - 2;
    first_day date;
BEGIN
    IF meter_update.state NOT IN ('awaiting_customer', 'active', 'rejected', 'expired', 'failed', 'terminated',
                                  'pending', 'terminating') THEN
        RAISE EXCEPTION 'smt.meter_update: % is not a meter state', meter_update.state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE smt.meter t
       SET state = meter_update.state, agreement_number = coalesce(meter_update.agreement_number, t.agreement_number),
           state_reason = meter_update.reason, lease_until = NULL,
           not_before = at + greatest(coalesce(meter_update.next_step, interval '0'), interval '0'),
           activated_at = CASE WHEN meter_update.state = 'active' THEN at ELSE t.activated_at END,
           updated_at = at
     WHERE t.esiid = meter_update.esiid AND t.worker = meter_update.worker AND t.claimed_by = session_user
       AND t.lease_until IS NOT NULL
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF m.state = 'active' AND m.requested_through IS NULL THEN
        -- A year of history (at most the agreement's months), 15-minute and daily, up to yesterday.
        first_day := greatest((yesterday - make_interval(months => least(m.months, 12)))::date + 1,
                              (yesterday - interval '48 months')::date + 1);
        PERFORM smt.request_usage(ARRAY[m.esiid], report, first_day, yesterday, 'json')
           FROM unnest(ARRAY['interval', 'daily']) report;
        UPDATE smt.meter t SET history_from = first_day, requested_through = yesterday WHERE t.esiid = m.esiid;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.meter_update(text, text, text, text, text, interval) IS
'Records the outcome of a worker''s agreement step on a meter it holds: the new state, SMT''s agreement number and words, and when to act next. On becoming active, requests a year of history (15-minute and daily reads, up to yesterday). False when the meter is not the worker''s.';

CREATE FUNCTION smt.meter_info_update(esiid text, worker text, info jsonb) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE smt.meter t SET meter_info = meter_info_update.info
     WHERE t.esiid = meter_info_update.esiid AND t.worker = meter_info_update.worker
       AND t.claimed_by = session_user AND t.lease_until IS NOT NULL
    RETURNING true
$$;
COMMENT ON FUNCTION smt.meter_info_update(text, text, jsonb) IS 'Keeps SMT''s record of a meter (/v2/meterInfo/) the worker and login role hold. NULL when it is not theirs.';

-- One call at a time (an advisory lock; a concurrent call returns 0 at once, the running one queues
-- the requests), rather than rows locked with FOR UPDATE SKIP LOCKED, which Citus cannot do across
-- the shards of smt.meter. The gaps are found in two steps for the same reason: which meters lack
-- days (one query the shards answer in parallel: smt.meter and smt.day_total are co-located by
-- ESIID), then each such meter's first and last missing day (a query one shard answers), and
-- whether it has a request outstanding (smt.request stays on the coordinator).
CREATE FUNCTION smt.meter_keep_current(by_subscription boolean DEFAULT false) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    today date := smt._tomorrow() - 1;
    yesterday date := smt._tomorrow() - 2;
    -- Never before SMT's 48 months: a day older than that cannot be asked for.
    oldest date := (today - interval '48 months')::date + 1;
    m record;
    first_gap date;
    last_gap date;
    queued integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('smt.meter'), hashtext('smt.meter_keep_current')) THEN
        RETURN 0;
    END IF;
    IF by_subscription THEN
        -- SMT delivers each new day as a file: expected through the day before yesterday (a day's
        -- grace for the file to come); a day still missing then is a gap, requested below.
        UPDATE smt.meter t SET requested_through = yesterday - 1
         WHERE t.state = 'active' AND t.requested_through < yesterday - 1;
    ELSE
        -- The days since the last one requested.
        FOR m IN SELECT t.esiid, t.requested_through FROM smt.meter t
                  WHERE t.state = 'active' AND t.requested_through < yesterday
                  ORDER BY t.esiid
        LOOP
            PERFORM smt.request_usage(ARRAY[m.esiid], report, m.requested_through + 1, yesterday, 'json')
               FROM unnest(ARRAY['interval', 'daily']) report;
            UPDATE smt.meter t SET requested_through = yesterday WHERE t.esiid = m.esiid;
            queued := queued + 2;
        END LOOP;
    END IF;
    -- Days requested that still have no data (SMT had none yet, or its reply lacked them): asked
    -- again once a day, as one request spanning them, when none of the meter's is outstanding.
    FOR m IN SELECT t.esiid, greatest(t.history_from, oldest) AS first_day, t.requested_through AS last_day
               FROM smt.meter t
              WHERE t.state = 'active' AND t.gaps_requested_on IS DISTINCT FROM today
                AND greatest(t.history_from, oldest) <= t.requested_through
                AND (SELECT count(*) FROM smt.day_total x
                      WHERE x.esiid = t.esiid AND x.day BETWEEN greatest(t.history_from, oldest) AND t.requested_through)
                    < t.requested_through - greatest(t.history_from, oldest) + 1
              ORDER BY t.esiid
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM smt.request r WHERE r.esiids = ARRAY[m.esiid] AND r.report <> 'odr'
                                 AND r.state IN ('queued', 'sent', 'waiting'));
        SELECT min(d)::date, max(d)::date INTO first_gap, last_gap
          FROM generate_series(m.first_day, m.last_day, interval '1 day') d
         WHERE NOT EXISTS (SELECT 1 FROM smt.day_total x WHERE x.esiid = m.esiid AND x.day = d::date);
        CONTINUE WHEN first_gap IS NULL;
        PERFORM smt.request_usage(ARRAY[m.esiid], report, first_gap, last_gap, 'json')
           FROM unnest(ARRAY['interval', 'daily']) report;
        UPDATE smt.meter t SET gaps_requested_on = today WHERE t.esiid = m.esiid;
        queued := queued + 2;
    END LOOP;
    RETURN queued;
END
$$;
COMMENT ON FUNCTION smt.meter_keep_current(boolean) IS 'Requests, for every active meter, the days since the last one requested, up to yesterday (unless by_subscription: SMT then delivers each new day, expected by the day after), and once a day the days requested or expected that still have no data (15-minute and daily reads); returns how many requests it queued. The smt_api job calls it on every run.';

-- ---------------------------------------------------------------------------------------------
-- Subscriptions: an account that keeps meters current by subscription (keep_current =
-- "subscription" in the worker's [smt_api.NAME]) has SMT deliver every active meter's new days as
-- files on its SFTP site (loaded by an sftp_fetch job), one subscription per data type. The worker
-- subscribes while some meter is active and unsubscribes once none is.

CREATE TABLE smt.subscription (
    subscription_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source              text NOT NULL,
    data_type           text NOT NULL,
    report_format       text NOT NULL,
    subscription_number text NOT NULL,
    state               text NOT NULL DEFAULT 'active',
    created_at          timestamptz NOT NULL DEFAULT now(),
    cancelled_at        timestamptz,
    CONSTRAINT subscription_data_type CHECK (data_type IN ('INTERVAL', 'DAILY')),
    CONSTRAINT subscription_state CHECK (state IN ('active', 'cancelled'))
);
CREATE UNIQUE INDEX subscription_active_idx ON smt.subscription (source, data_type) WHERE state = 'active';
COMMENT ON TABLE smt.subscription IS 'Subscriptions made with SMT (/v2/NewSubscription/) by the smt_api job of an account that keeps meters current by subscription: SMT then delivers the new days of every active meter as files over SFTP.';
COMMENT ON COLUMN smt.subscription.subscription_id IS 'Identifier of the row.';
COMMENT ON COLUMN smt.subscription.source IS 'The account (smt-api://NAME, NAME its [smt_api.NAME] in the worker''s config) that made it.';
COMMENT ON COLUMN smt.subscription.data_type IS 'INTERVAL (15-minute reads) or DAILY (daily meter reads).';
COMMENT ON COLUMN smt.subscription.report_format IS 'The file format SMT delivers (CSV, LSE).';
COMMENT ON COLUMN smt.subscription.subscription_number IS 'SMT''s subscription number.';
COMMENT ON COLUMN smt.subscription.state IS 'active, or cancelled (/v2/UnSubscription/ once no meter was active).';
COMMENT ON COLUMN smt.subscription.created_at IS 'When SMT accepted it.';
COMMENT ON COLUMN smt.subscription.cancelled_at IS 'When it was cancelled.';

SELECT pg_catalog.pg_extension_config_dump('smt.subscription', '');

CREATE FUNCTION smt.subscription_steps(source text, data_types text[])
RETURNS TABLE (action text, data_type text, subscription_id bigint, subscription_number text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- subscribe: a data type wanted with no active subscription while some meter is active
    SELECT 'subscribe', d, NULL::bigint, NULL::text
      FROM unnest(subscription_steps.data_types) d
     WHERE EXISTS (SELECT FROM smt.meter m WHERE m.state = 'active')
       AND NOT EXISTS (SELECT FROM smt.subscription s WHERE s.source = subscription_steps.source
                          AND s.data_type = d AND s.state = 'active')
    UNION ALL
    -- unsubscribe: an active subscription once no meter is active or about to be
    SELECT 'unsubscribe', s.data_type, s.subscription_id, s.subscription_number
      FROM smt.subscription s
     WHERE s.source = subscription_steps.source AND s.state = 'active'
       AND NOT EXISTS (SELECT FROM smt.meter m WHERE m.state IN ('pending', 'awaiting_customer', 'active'))
$$;
COMMENT ON FUNCTION smt.subscription_steps(text, text[]) IS 'What the smt_api job of account source, keeping meters current by subscription to data_types, must do: subscribe to a data type (some meter is active, no subscription yet) or unsubscribe (no meter is active or on its way).';

CREATE FUNCTION smt.subscription_recorded(source text, data_type text, report_format text, subscription_number text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO smt.subscription (source, data_type, report_format, subscription_number)
    VALUES (subscription_recorded.source, subscription_recorded.data_type, subscription_recorded.report_format,
            subscription_recorded.subscription_number)
    ON CONFLICT (source, data_type) WHERE state = 'active' DO NOTHING
    RETURNING true
$$;
COMMENT ON FUNCTION smt.subscription_recorded(text, text, text, text) IS 'Records a subscription SMT accepted for account source. NULL when the account already has an active one of the data type (another worker made it meanwhile).';

CREATE FUNCTION smt.subscription_cancelled(subscription_id bigint) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE smt.subscription s SET state = 'cancelled', cancelled_at = now()
     WHERE s.subscription_id = subscription_cancelled.subscription_id AND s.state = 'active'
    RETURNING true
$$;
COMMENT ON FUNCTION smt.subscription_cancelled(bigint) IS 'Records that SMT cancelled a subscription (/v2/UnSubscription/). NULL when it was not active.';

CREATE VIEW smt.meter_status WITH (security_invoker = true) AS
SELECT m.esiid, m.meter_number, m.state, m.agreement_number, m.state_reason, m.meter_info, m.enrolled_at, m.activated_at,
       m.requested_through,
       (SELECT max(t.day) FROM smt.day_total t WHERE t.esiid = m.esiid) AS last_data_day,
       -- The days of the range less those with data (one smt.day_total row a day): no set-returning
       -- function and no correlated EXISTS, so Citus runs it on the shards (co-located by ESIID).
       coalesce(greatest(m.requested_through - m.history_from + 1
                         - (SELECT count(*) FROM smt.day_total t
                             WHERE t.esiid = m.esiid AND t.day BETWEEN m.history_from AND m.requested_through), 0),
                0) AS days_missing,
       CASE m.state
           WHEN 'pending' THEN 'the worker sends SMT the agreement'
           WHEN 'awaiting_customer' THEN 'waiting for the customer to accept SMT''s e-mail; checked again at ' || m.not_before
           WHEN 'active' THEN CASE WHEN EXISTS (SELECT 1 FROM smt.subscription s WHERE s.state = 'active')
                                   THEN 'kept current: SMT delivers each new day (smt.subscription), missing days are requested'
                                   ELSE 'kept current: each new day is requested' END
           WHEN 'terminating' THEN 'the worker terminates the agreement with SMT'
           ELSE 'nothing (enroll again to start over)'
       END AS next_action
  FROM smt.meter m;
COMMENT ON VIEW smt.meter_status IS 'Every enrolled meter: agreement state and SMT''s words, the last day with data, how many requested days have none yet, and what happens next.';
COMMENT ON COLUMN smt.meter_status.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_status.meter_number IS 'Meter number.';
COMMENT ON COLUMN smt.meter_status.state IS 'pending, awaiting_customer, active, rejected, expired, failed, terminating or terminated.';
COMMENT ON COLUMN smt.meter_status.agreement_number IS 'SMT''s agreement number.';
COMMENT ON COLUMN smt.meter_status.state_reason IS 'SMT''s words for the state, if any.';
COMMENT ON COLUMN smt.meter_status.meter_info IS 'SMT''s record of the meter (/v2/meterInfo/), as SMT sent it.';
COMMENT ON COLUMN smt.meter_status.enrolled_at IS 'When it was enrolled.';
COMMENT ON COLUMN smt.meter_status.activated_at IS 'When the customer''s acceptance was seen.';
COMMENT ON COLUMN smt.meter_status.requested_through IS 'The last operating day requested.';
COMMENT ON COLUMN smt.meter_status.last_data_day IS 'The last operating day with data loaded (smt.day_total).';
COMMENT ON COLUMN smt.meter_status.days_missing IS 'Days from the start of the history to requested_through without data yet.';
COMMENT ON COLUMN smt.meter_status.next_action IS 'What happens next, in words.';
