-- Loading files into storage, with the replacement rule. One door, in two shapes:
--   smt.load(bytea, name)                    a file in one call (up to PostgreSQL's 1 GB value);
--   smt.load_begin(name) -> upload,
--   smt.load_part(upload, bytea) ...,
--   smt.load_end(upload)                     a file of any size, streamed in parts, in one
--                                            transaction (the smt scheduler loads this way).
--
-- The caller hands over the file's bytes and nothing else it could get wrong or forge: the
-- database computes the digest, keeps the bytes, detects the format, parses with smt-core
-- (smt._stage_records, the same code the CLI uses) and merges.
--
-- Steps, all in the caller's transaction (so the registry row and the data commit together):
--   1. smt.load_begin reserves the file's id; smt.load_part keeps the bytes in smt.file_content
--      under it, in parts of at most 8 MiB.
--   2. smt.load_end registers the file: the same content (sha256) loaded before means nothing to
--      do (its new copy is dropped); otherwise the file is registered and its bytes kept,
--      whatever happens next.
--   3. staging rows in smt.stage, keyed by the file: one per record (role 'record') or rejected
--      record (role 'reject'), in file order, parsed a part at a time (bounded memory).
--   4. smt._merge_stage: days not stored are inserted; each staged version of a stored day is
--      decided against the stored one by core's rule (smt._decide for equal revisions);
--      losers of every kind go to smt.interval_version, winners are upserted, rejects recorded.
--
-- Trust: the load functions are SECURITY DEFINER (a loader needs no table privileges) and touch
-- only objects of this extension, found by schema-qualified names under a pinned search_path;
-- nothing a caller can create, own or alter (a temporary table, a function on its search_path)
-- is ever read or written by them. An upload belongs to the login role and the transaction that
-- began it. smt.stage, smt.upload and the helper functions are not granted to anyone.
--
-- Loads run concurrently, each in its own transaction; none waits for another unless they touch
-- the same data:
--   * the same content: registering takes a transaction-level advisory lock on the digest, so
--     the second of two identical files finds the first loaded (or failed) and does nothing;
--   * the same ESIID-channel-day: a day nobody has stored is inserted with ON CONFLICT, so of two
--     loads inserting it one waits for the other and then finds it stored; a stored day is
--     decided against the version read, and replaced only if that version is still the stored
--     one (the UPDATE rechecks it row by row). When another load changed the day in between, the
--     load fails with serialization_failure (SQLSTATE 40001) and nothing of it stays: the caller
--     loads the file again (the smt worker does, as it does on a deadlock, 40P01), and decides
--     against what is stored then. Every version stays accounted for either way.
--   * a new month's partitions, and the data guard: made under an advisory lock of their own.

-- The staging rows of the load in progress. Its columns are exactly smt._stage_records's (the one
-- definition of a staging row, in extension/src/load_sql.rs), plus the file and the merge's
-- decision. Unlogged: rows live only inside the loading transaction.
CREATE UNLOGGED TABLE smt.stage AS
SELECT NULL::bigint AS file_id, s.*, NULL::text AS decision, NULL::bigint AS decided_against
  FROM smt._stage_records(NULL::bigint, false) s
  WITH NO DATA;
-- No index: each load empties its rows before committing, so the table only ever holds the loads
-- in progress, and every step reads all of its own rows (an index cost 10% per load).
COMMENT ON TABLE smt.stage IS 'Staging rows of the load in progress (written and emptied by smt.load only, inside the loading transaction; never granted).';
COMMENT ON COLUMN smt.stage.file_id IS 'The file being loaded (smt.file).';
COMMENT ON COLUMN smt.stage.role IS 'record (a good record), reject (a bad one), superseded or identical (settled within the file); foreign for a row under this load''s id that this load''s transaction did not write (ignored).';
COMMENT ON COLUMN smt.stage.esiid IS 'ESIID of a record.';
COMMENT ON COLUMN smt.stage.channel IS 'Channel of a record.';
COMMENT ON COLUMN smt.stage.day IS 'Operating day of a record.';
COMMENT ON COLUMN smt.stage.revision IS 'Revision of a record.';
COMMENT ON COLUMN smt.stage.first_start IS 'Start of the first interval of a record.';
COMMENT ON COLUMN smt.stage.interval_seconds IS 'Interval length of a record.';
COMMENT ON COLUMN smt.stage.scale IS 'Decimal scale of units.';
COMMENT ON COLUMN smt.stage.units16 IS 'Values as scaled integers, when they all fit 16 bits.';
COMMENT ON COLUMN smt.stage.units IS 'Values as scaled integers needing 32 bits.';
COMMENT ON COLUMN smt.stage.kwh_total IS 'Sum of the record''s values, exact (decimal text); NULL when it has none.';
COMMENT ON COLUMN smt.stage.intervals_expected IS 'Intervals the record''s operating day has at its interval length (96, or 92 / 100 on DST days).';
COMMENT ON COLUMN smt.stage.intervals_present IS 'Intervals of the record with a value.';
COMMENT ON COLUMN smt.stage.intervals_estimated IS 'Intervals of the record marked E.';
COMMENT ON COLUMN smt.stage.kwh_exact IS 'Values as decimal text when they do not fit units.';
COMMENT ON COLUMN smt.stage.status IS 'One character per interval: A, E or -.';
COMMENT ON COLUMN smt.stage.transaction_id IS 'LSE transaction id.';
COMMENT ON COLUMN smt.stage.decided_against IS 'The file of the stored version a decision was made against: the merge replaces that version only if it is still the stored one.';
COMMENT ON COLUMN smt.stage.line IS '1-based line in the file.';
COMMENT ON COLUMN smt.stage.field IS 'Field at fault (rejects).';
COMMENT ON COLUMN smt.stage.kind IS 'Kind of problem (rejects).';
COMMENT ON COLUMN smt.stage.reason IS 'What is wrong (rejects).';
COMMENT ON COLUMN smt.stage.raw IS 'Text of the offending line (rejects).';
COMMENT ON COLUMN smt.stage.decision IS 'What the merge decided for a record whose day was stored (NULL: the day was not stored and the record was inserted; stored while it is being decided): replace, replace_conflict, keep, keep_conflict, identical; in_file_conflict for a version that lost to one of the same revision in the same file.';

-- What one load did: the one definition of the load counts (smt.file keeps the same per file).
CREATE TYPE smt.load_result AS (
    file_id        bigint,
    format         text,
    already_loaded boolean,
    error          text,
    records        integer,
    inserted       integer,
    replaced       integer,
    stale          integer,
    identical      integer,
    conflicts      integer,
    rejected       integer
);
COMMENT ON TYPE smt.load_result IS 'What smt.load did with one file: its registry id and format, whether the same content was loaded before, why it could not be read (error), and the counts of its records by outcome.';
COMMENT ON COLUMN smt.load_result.file_id IS 'The file in smt.file.';
COMMENT ON COLUMN smt.load_result.format IS 'Format detected from the content: lse, interval_csv, daily_csv, monthly_csv, interval_json, daily_json (SMT API replies), green_button (ESPI feeds); NULL if unknown.';
COMMENT ON COLUMN smt.load_result.already_loaded IS 'true when the same content (sha256) was registered before: nothing changed, and every count is 0 (smt.file keeps what the first load did).';
COMMENT ON COLUMN smt.load_result.error IS 'Why the file could not be loaded (it is kept with state failed); NULL when it loaded.';
COMMENT ON COLUMN smt.load_result.records IS 'Good records (ESIID-channel-day versions) in the file.';
COMMENT ON COLUMN smt.load_result.inserted IS 'Records for ESIID-channel-days not stored before.';
COMMENT ON COLUMN smt.load_result.replaced IS 'Records that replaced an older stored version.';
COMMENT ON COLUMN smt.load_result.stale IS 'Records older than the stored version (kept in smt.interval_version).';
COMMENT ON COLUMN smt.load_result.identical IS 'Records equal to the stored version.';
COMMENT ON COLUMN smt.load_result.conflicts IS 'Records with the same revision as the stored version but other values, settled by the tie-break rule.';
COMMENT ON COLUMN smt.load_result.rejected IS 'Bad records, each in smt.reject.';

-- The view whose existence makes DROP EXTENSION smt need CASCADE once meter data is held: it is
-- not a member of the extension but depends on its tables, so PostgreSQL refuses a plain DROP
-- EXTENSION and names it. Made by the first load (and by the upgrade of a database holding
-- data), not at CREATE EXTENSION, so a fresh install drops plainly and pg_dump/pg_restore bring
-- it back exactly when there is data.
CREATE FUNCTION smt._guard_meter_data() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF to_regclass('smt.meter_data_guard') IS NULL
       AND smt._lock_schema_change('meter_data_guard') THEN
        CREATE VIEW smt.meter_data_guard WITH (security_invoker = true) AS
        SELECT count(*) AS files, max(f.loaded_at) AS last_loaded_at FROM smt.file f;
        COMMENT ON VIEW smt.meter_data_guard IS
            'Exists while smt holds meter data: it makes DROP EXTENSION smt fail unless CASCADE is given, so the data is never dropped by accident. Dump the database first (pg_dump keeps every row), then DROP EXTENSION smt CASCADE to drop the data too.';
        COMMENT ON COLUMN smt.meter_data_guard.files IS 'Files registered in smt.file.';
        COMMENT ON COLUMN smt.meter_data_guard.last_loaded_at IS 'When the last file was registered.';
        GRANT SELECT ON smt.meter_data_guard TO smt_reader;
    END IF;
END
$$;
COMMENT ON FUNCTION smt._guard_meter_data() IS 'Makes the view smt.meter_data_guard (not an extension member) if it is missing, so that DROP EXTENSION smt needs CASCADE while data is held. Called by smt.load.';

-- Loads in progress: one row from smt.load_begin to smt.load_end, in one transaction.
CREATE TABLE smt.upload (
    upload_id     bigint PRIMARY KEY,
    file_name     text NOT NULL,
    lenient_esiid boolean NOT NULL,
    uploaded_by   text NOT NULL,
    xact          xid8 NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE smt.upload IS 'Loads in progress (smt.load_begin to smt.load_end, within one transaction): what the file will be registered as. Written only by the load functions; never granted.';
COMMENT ON COLUMN smt.upload.upload_id IS 'The handle smt.load_begin returned: the id reserved for the file in smt.file, under which its parts are kept in smt.file_content (a file whose content was registered before keeps its first id instead).';
COMMENT ON COLUMN smt.upload.file_name IS 'File name as given to smt.load_begin.';
COMMENT ON COLUMN smt.upload.lenient_esiid IS 'Whether ESIIDs are read leniently (the LSE spec''s 1-64 letters and digits).';
COMMENT ON COLUMN smt.upload.uploaded_by IS 'Login role (session_user) that began the load: only it may add parts and end it.';
COMMENT ON COLUMN smt.upload.xact IS 'Transaction that began the load: parts and the end must come in the same transaction.';
COMMENT ON COLUMN smt.upload.started_at IS 'When the load began.';

-- The caller's load in progress, or an error saying why it is not one.
CREATE FUNCTION smt._upload(upload_id bigint) RETURNS smt.upload
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
BEGIN
    SELECT x.* INTO u FROM smt.upload x WHERE x.upload_id = _upload.upload_id;
    IF NOT FOUND OR u.uploaded_by <> session_user THEN
        RAISE EXCEPTION 'no load % is in progress for role %', upload_id, session_user
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Begin one with smt.load_begin(file_name) and use the id it returns, in the same transaction; a load ends with smt.load_end.';
    END IF;
    IF u.xact <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'load % was begun in another transaction', upload_id
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'A file''s parts and its end must come in the transaction that began it, so that a file is kept and loaded whole or not at all.',
                  HINT = 'Run smt.load_begin, smt.load_part and smt.load_end between one BEGIN and COMMIT.';
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION smt._upload(bigint) IS 'The load in progress with this id, if the session''s login role began it in this transaction; an error otherwise. Internal to smt.load_part and smt.load_end.';

CREATE FUNCTION smt.load_begin(file_name text, lenient_esiid boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    upload bigint;
BEGIN
    IF file_name IS NULL OR lenient_esiid IS NULL THEN
        RAISE EXCEPTION 'smt.load_begin needs the file''s name and lenient_esiid, neither of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call smt.load_begin(''name'') or smt.load_begin(''name'', true).';
    END IF;
    -- Loads begun in transactions that ended without smt.load_end are forgotten. Their parts did
    -- not survive: parts need the file row smt.load_end makes, checked at commit.
    DELETE FROM smt.upload x WHERE pg_xact_status(x.xact) IS DISTINCT FROM 'in progress';
    -- So are staged rows no load in progress owns (a loader may copy rows and commit without
    -- ending its load). Rows of loads still in progress elsewhere are not visible here.
    DELETE FROM smt.stage s WHERE NOT EXISTS (SELECT FROM smt.upload x WHERE x.upload_id = s.file_id);
    INSERT INTO smt.upload (upload_id, file_name, lenient_esiid, uploaded_by, xact)
    VALUES (nextval(pg_get_serial_sequence('smt.file', 'file_id')), file_name, lenient_esiid,
            -- session_user: inside SECURITY DEFINER current_user is the owner, not the loader.
            session_user, pg_current_xact_id())
    RETURNING smt.upload.upload_id INTO upload;
    RETURN upload;
END
$$;
COMMENT ON FUNCTION smt.load_begin(text, boolean) IS
'Begins loading a file of any size in parts: returns the handle to give smt.load_part (once per part, in order) and smt.load_end, all in this transaction. smt.load(bytea, name) does all three for a file in one piece.';

CREATE FUNCTION smt.load_part(upload_id bigint, data bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Parts are kept at most this long, so reading a file back holds no more than this at once.
    part_bytes constant integer := 8388608;
    u smt.upload;
    next_part integer;
BEGIN
    IF upload_id IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'smt.load_part needs the load''s id and the bytes, neither of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id smt.load_begin returned and the next bytes of the file.';
    END IF;
    u := smt._upload(upload_id);
    SELECT coalesce(max(c.part) + 1, 0) INTO next_part FROM smt.file_content c WHERE c.file_id = u.upload_id;
    FOR i IN 0 .. ceil(octet_length(data)::numeric / part_bytes)::integer - 1 LOOP
        INSERT INTO smt.file_content (file_id, part, data)
        VALUES (u.upload_id, next_part + i, substring(data FROM i * part_bytes + 1 FOR part_bytes));
    END LOOP;
    RETURN (SELECT coalesce(sum(octet_length(c.data)), 0) FROM smt.file_content c WHERE c.file_id = u.upload_id);
END
$$;
COMMENT ON FUNCTION smt.load_part(bigint, bytea) IS
'Adds the next bytes of a file to the load begun by smt.load_begin (in this transaction, by this login role); returns how many bytes the load has received so far. Any size up to PostgreSQL''s 1 GB value; kept in parts of at most 8 MiB.';

-- Registers the file of a load in progress under the SHA-256 of its content, or finds it
-- registered: the result's already_loaded says the same content was loaded before (the result is
-- then final: every count 0, and what this load brought is dropped); otherwise its file_id is the
-- file to load into (the load's own id, or the first id of content that failed before) and the
-- counts are NULL. Two loads of the same content are serialized by a lock on its digest.
CREATE FUNCTION smt._register_upload(u smt.upload, sha256 bytea, size_bytes bigint, format text)
RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    existing record;
    result smt.load_result;
BEGIN
    DELETE FROM smt.upload x WHERE x.upload_id = u.upload_id;
    -- Only loads of the same content wait for each other here (the lock lasts until commit).
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext(encode(_register_upload.sha256, 'hex')));
    SELECT f.file_id, f.state = 'loaded' AS loaded INTO existing FROM smt.file f WHERE f.sha256 = _register_upload.sha256;
    IF NOT FOUND THEN
        PERFORM smt._guard_meter_data();
        INSERT INTO smt.file (file_id, name, sha256, size_bytes, format, loaded_by)
        OVERRIDING SYSTEM VALUE
        VALUES (u.upload_id, u.file_name, _register_upload.sha256, _register_upload.size_bytes,
                _register_upload.format, u.uploaded_by);
        RETURN ROW(u.upload_id, _register_upload.format, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::smt.load_result;
    END IF;
    -- The same content was given before and its bytes (or rows) are kept: this copy goes.
    DELETE FROM smt.file_content c WHERE c.file_id = u.upload_id;
    IF existing.loaded THEN
        DELETE FROM smt.stage s WHERE s.file_id = u.upload_id;
        -- This load did nothing, so every count is 0 (smt.file keeps what the first load did):
        -- totals over many loads never count a file twice.
        SELECT f.file_id, f.format, true, f.error, 0, 0, 0, 0, 0, 0, 0
          INTO result FROM smt.file f WHERE f.file_id = existing.file_id;
        RAISE NOTICE 'smt.load: % has the same content as file % already loaded; nothing changed',
            u.file_name, existing.file_id;
        RETURN result;
    END IF;
    -- Content that failed before (a format this version could not load then) is tried again
    -- under its first registration; only loaded content counts as already loaded.
    UPDATE smt.file f SET state = 'loading', error = NULL, format = _register_upload.format
     WHERE f.file_id = existing.file_id;
    UPDATE smt.stage s SET file_id = existing.file_id WHERE s.file_id = u.upload_id;
    RETURN ROW(existing.file_id, _register_upload.format, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::smt.load_result;
END
$$;
COMMENT ON FUNCTION smt._register_upload(smt.upload, bytea, bigint, text) IS 'Registers the file of a load in progress by its SHA-256 (or finds the same content registered before) under a lock on that digest. Internal to smt.load_end and smt.load_staged.';

CREATE FUNCTION smt.load_end(upload_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
    content record;
    detected text;
    result smt.load_result;
BEGIN
    IF upload_id IS NULL THEN
        RAISE EXCEPTION 'smt.load_end needs the load''s id, not NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id smt.load_begin returned.';
    END IF;
    u := smt._upload(upload_id);
    -- The digest is computed here, from the bytes that are kept.
    SELECT s.* INTO content FROM smt._content_summary(u.upload_id) s;
    detected := smt.detect_format(content.head);
    IF detected IN ('lse', 'interval_csv', 'interval_json', 'green_button') THEN
        -- Parsed and settled before registering, under the load's id.
        INSERT INTO smt.stage SELECT u.upload_id, s.*, NULL, NULL FROM smt._stage_records(u.upload_id, u.lenient_esiid) s;
        PERFORM smt._settle_stage(u.upload_id);
    END IF;
    result := smt._register_upload(u, content.sha256, content.size_bytes, detected);
    IF result.already_loaded THEN
        RETURN result;
    END IF;

    IF detected IN ('daily_csv', 'daily_json') THEN
        RETURN smt._merge_daily(result.file_id, u.lenient_esiid);
    END IF;
    IF detected = 'monthly_csv' THEN
        RETURN smt._merge_monthly(result.file_id, u.lenient_esiid);
    END IF;
    IF detected IS NULL OR detected NOT IN ('lse', 'interval_csv', 'interval_json', 'green_button') THEN
        result.error := CASE WHEN detected IS NULL THEN 'not an LSE or SMT CSV report, nor an SMT API reply (unknown content)'
                             ELSE format('%s reports are not loaded yet (only interval reports, daily meter reads and monthly usage)', detected) END;
        result := ROW(result.file_id, detected, false, result.error, 0, 0, 0, 0, 0, 0, 0)::smt.load_result;
        UPDATE smt.file f SET state = 'failed', error = result.error WHERE f.file_id = result.file_id;
        RAISE WARNING 'smt.load: %: %; kept as file % with state failed', u.file_name, result.error, result.file_id;
        RETURN result;
    END IF;
    RETURN smt._merge_stage(result.file_id);
END
$$;
COMMENT ON FUNCTION smt.load_end(bigint) IS
'Ends a load begun by smt.load_begin: registers the file by the SHA-256 of the bytes received, keeps them, and loads it as smt.load does (same result): interval reports into smt.interval_day, daily meter reads into smt.daily_read. Loading the same content twice changes nothing (already_loaded = true).';

-- The loader's own rows, parsed by the loader: the smt scheduler parses a report with smt-core
-- (the code smt._stage_records runs) and copies the rows into smt.stage under the load's id
-- (binary COPY; the loader may insert into smt.stage, nothing else). Here they are registered
-- under the digest and size the loader computed of the report, checked, and merged like the
-- rows the database parses itself. The report's bytes are not kept in smt.file_content: the
-- delivery they came in is the raw record (see smt.delivery_content).
--
-- What is trusted and what is checked: only rows this transaction wrote count (any other row
-- under the id is dropped); every record must hold together (smt._staged_problem: values,
-- statuses and totals agree, the day is complete) and carry a valid ESIID in the load's mode and
-- a channel, else it becomes a reject saying why. The digest is the loader's word: a loader that
-- lies about it can only make its own report look loaded already.
CREATE FUNCTION smt.load_staged(upload_id bigint, sha256 bytea, size_bytes bigint, format text)
RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
    result smt.load_result;
BEGIN
    IF upload_id IS NULL OR sha256 IS NULL OR size_bytes IS NULL OR format IS NULL THEN
        RAISE EXCEPTION 'smt.load_staged needs the load''s id, the report''s SHA-256, its size and its format, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF format NOT IN ('lse', 'interval_csv', 'interval_json', 'green_button') OR octet_length(sha256) <> 32 OR size_bytes < 0 THEN
        RAISE EXCEPTION 'smt.load_staged: % is not an interval report format, or the digest or size is malformed', format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('format %s, %s-byte digest, size %s', format, octet_length(sha256), size_bytes),
                  HINT = 'Stage LSE or SMT interval CSV reports, SMT API interval replies or Green Button feeds; load any other file with smt.load or smt.load_part.';
    END IF;
    u := smt._upload(upload_id);
    -- Checked and settled before registering, under the load's id. A row another transaction
    -- put under this id is not this load's (foreign: ignored), nor is one that claims a decision
    -- or a role of the merge's; a record that does not hold together becomes a reject saying why.
    UPDATE smt.stage s
       SET role = CASE WHEN s.xmin <> u.xact::xid OR s.decision IS NOT NULL OR s.decided_against IS NOT NULL
                            OR s.role NOT IN ('record', 'reject')
                       THEN 'foreign' ELSE 'reject' END,
           field = coalesce(s.field, 'staged row'),
           kind = coalesce(s.kind, 'invalid_staged_row'),
           reason = coalesce(s.reason,
                             smt._staged_problem(s.day, s.interval_seconds, s.scale, s.units16, s.units, s.kwh_exact,
                                                 s.status, s.kwh_total, s.intervals_expected,
                                                 s.intervals_present, s.intervals_estimated),
                             format('ESIID %s or channel %s is not valid', s.esiid, s.channel)),
           raw = coalesce(s.raw, format('ESIID %s, channel %s, day %s, revision %s', s.esiid, s.channel, s.day, s.revision))
     WHERE s.file_id = u.upload_id
       AND (s.xmin <> u.xact::xid OR s.decision IS NOT NULL OR s.decided_against IS NOT NULL
            OR s.role NOT IN ('record', 'reject')
            OR (s.role = 'reject' AND (s.field IS NULL OR s.kind IS NULL OR s.reason IS NULL OR s.raw IS NULL))
            OR (s.role = 'record'
                AND (s.esiid IS NULL OR s.channel IS NULL OR s.revision IS NULL OR s.first_start IS NULL
                     OR s.channel NOT BETWEEN 1 AND 255
                     OR NOT CASE WHEN u.lenient_esiid THEN s.esiid ~ '^[A-Za-z0-9]{1,64}$'
                                 ELSE smt.esiid_valid(s.esiid) AND s.esiid = smt.esiid_normalize(s.esiid) END
                     OR smt._staged_problem(s.day, s.interval_seconds, s.scale, s.units16, s.units, s.kwh_exact,
                                            s.status, s.kwh_total, s.intervals_expected,
                                            s.intervals_present, s.intervals_estimated) IS NOT NULL)));
    PERFORM smt._settle_stage(u.upload_id);
    result := smt._register_upload(u, sha256, size_bytes, format);
    IF result.already_loaded THEN
        RETURN result;
    END IF;
    RETURN smt._merge_stage(result.file_id);
END
$$;
COMMENT ON FUNCTION smt.load_staged(bigint, bytea, bigint, text) IS
'Ends a load begun by smt.load_begin whose rows the loader copied into smt.stage itself (parsed with smt-core, as the smt scheduler does): registers the report by the SHA-256 and size the loader gives, checks every row (a record that does not hold together becomes a reject saying why) and merges them as smt.load does (same result). The same content twice changes nothing (already_loaded = true).';

-- The last operating day a delivery can hold: tomorrow in Central time.
CREATE FUNCTION smt._tomorrow() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (now() AT TIME ZONE 'America/Chicago')::date + 1;
COMMENT ON FUNCTION smt._tomorrow() IS 'Tomorrow''s date in Central prevailing time: no delivery holds an operating day after it.';

-- (smt._day_peak is smt-core's day_profile::peak_index, in extension/src/report_sql.rs.)
COMMENT ON FUNCTION smt._day_peak(smallint, smallint[], integer[], numeric[]) IS '1-based position of a stored day''s largest value (the first if it repeats), from its storage columns; NULL without any value. Used for the peaks kept in smt.day_total.';

-- The day totals of the load (channel 4) and generation (channel 1) versions a file's merge made
-- current in one month, written into that month's smt.day_total partition: a new meter-day is
-- inserted, a stored one gets the channels the file brought and keeps the others.
CREATE FUNCTION smt._apply_day_totals(file_id bigint, month date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := format('day_total_%s', to_char(month, 'YYYY_MM'));
BEGIN
    -- Load (channel 4) first, then generation (channel 1): one statement per channel, since a
    -- statement may not upsert a row twice, and each ESIID-day has one current version per
    -- channel (the file's repeats are settled), so neither needs grouping.
    -- The day's peak: its largest interval (found by smt._day_peak, one call a day), as kW.
    EXECUTE format($sql$
        INSERT INTO smt.%I AS t (esiid, day, channels, import_kwh, export_kwh, intervals_expected,
                                 intervals_present, intervals_estimated, peak_kw, peak_start)
        SELECT s.esiid, s.day, 1, s.kwh_total::numeric, NULL, s.intervals_expected,
               s.intervals_present, s.intervals_estimated,
               smt._demand_kw(smt.kwh(coalesce(s.units16[p.i], s.units[p.i]), s.scale, s.kwh_exact[p.i]::numeric),
                              s.interval_seconds),
               s.first_start + make_interval(secs => (p.i - 1) * s.interval_seconds)
          FROM smt.stage s
         CROSS JOIN LATERAL (SELECT smt._day_peak(s.scale, s.units16, s.units, s.kwh_exact::numeric[]) AS i) p
         WHERE s.file_id = $1 AND s.role = 'record' AND s.channel = 4
           AND s.day >= $2 AND s.day < ($2 + interval '1 month')
           AND (s.decision IS NULL OR s.decision IN ('replace', 'replace_conflict'))
        ON CONFLICT (esiid, day) DO UPDATE SET
            channels = t.channels | 1,
            import_kwh = excluded.import_kwh,
            intervals_expected = excluded.intervals_expected,
            intervals_present = excluded.intervals_present,
            intervals_estimated = excluded.intervals_estimated,
            peak_kw = excluded.peak_kw,
            peak_start = excluded.peak_start
    $sql$, part)
    USING file_id, month;
    -- A day with generation only counts its intervals at the generation's length, all missing
    -- from the load's point of view, until load data comes.
    EXECUTE format($sql$
        INSERT INTO smt.%I AS t (esiid, day, channels, import_kwh, export_kwh, intervals_expected,
                                 intervals_present, intervals_estimated)
        SELECT s.esiid, s.day, 2, NULL, s.kwh_total::numeric, s.intervals_expected, 0, 0
          FROM smt.stage s
         WHERE s.file_id = $1 AND s.role = 'record' AND s.channel = 1
           AND s.day >= $2 AND s.day < ($2 + interval '1 month')
           AND (s.decision IS NULL OR s.decision IN ('replace', 'replace_conflict'))
        ON CONFLICT (esiid, day) DO UPDATE SET
            channels = t.channels | 2,
            export_kwh = excluded.export_kwh
    $sql$, part)
    USING file_id, month;
END
$$;
COMMENT ON FUNCTION smt._apply_day_totals(bigint, date) IS 'Writes into smt.day_total the totals of the versions that a file''s merge made current in one month. Internal to smt.load.';

-- The part of a merge that needs only the load's own staged rows, done before registering:
-- records no real delivery can hold become rejects, and a day the file holds more than once keeps
-- one version (the others are superseded or identical repeats).
CREATE FUNCTION smt._settle_stage(stage_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Records no real delivery can hold are rejected with their reason, not stored: an operating
    -- day before 2000 or after tomorrow (a stray year would also make a partition for it), or a
    -- revision from the future (it would win against every real correction of that day).
    UPDATE smt.stage s
       SET role = 'reject',
           field = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow() THEN 'day' ELSE 'revision' END,
           kind = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow() THEN 'day_out_of_range'
                       ELSE 'revision_in_future' END,
           reason = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow()
                         THEN format('operating day %s is outside 2000-01-01 .. %s (tomorrow, Central time)', s.day, smt._tomorrow())
                         ELSE format('revision %s is later than now', s.revision) END,
           raw = format('ESIID %s, channel %s, day %s, revision %s', s.esiid, s.channel, s.day, s.revision)
     WHERE s.file_id = stage_id AND s.role = 'record'
       AND (s.day < date '2000-01-01' OR s.day > smt._tomorrow() OR s.revision > now() + interval '1 hour');

    -- A file may hold several versions of one day (SMT's "all versions" reports). Core's rule is a
    -- total order, so exactly one staged version of each day beats or equals all the others: the
    -- rest are superseded (older or losing) or identical repeats of an earlier line.
    IF NOT EXISTS (SELECT FROM smt.stage s WHERE s.file_id = stage_id AND s.role = 'record'
                    GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1) THEN
        RETURN;
    END IF;
    WITH dup AS (
        SELECT s.esiid, s.channel, s.day FROM smt.stage s
         WHERE s.file_id = stage_id AND s.role = 'record'
         GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1
    ), staged AS (
        SELECT s.* FROM smt.stage s JOIN dup USING (esiid, channel, day)
         WHERE s.file_id = stage_id AND s.role = 'record'
    ), pairs AS (
        SELECT s.line, o.line AS other_line,
               smt._decide(s.revision, s.scale, coalesce(s.units16::integer[], s.units), s.kwh_exact::numeric[], s.status,
                           o.revision, o.scale, coalesce(o.units16::integer[], o.units), o.kwh_exact::numeric[], o.status) AS other_vs_this
          FROM staged s
          JOIN staged o ON o.esiid = s.esiid AND o.channel = s.channel AND o.day = s.day AND o.line <> s.line
    ), verdict AS (
        SELECT p.line,
               bool_or(p.other_vs_this IN ('replace', 'replace_conflict')) AS beaten,
               bool_or(p.other_vs_this = 'replace_conflict') AS beaten_in_conflict,
               bool_or(p.other_vs_this = 'identical' AND p.other_line < p.line) AS repeated
          FROM pairs p GROUP BY p.line
    )
    UPDATE smt.stage s
       SET role = CASE WHEN v.beaten THEN 'superseded' ELSE 'identical' END,
           -- a version that lost to another of the same revision in the same file is a conflict
           decision = CASE WHEN v.beaten_in_conflict THEN 'in_file_conflict' END
      FROM verdict v
     WHERE s.file_id = stage_id AND s.role = 'record' AND s.line = v.line
       AND (v.beaten OR v.repeated);
END
$$;
COMMENT ON FUNCTION smt._settle_stage(bigint) IS
'Settles a load''s staged rows among themselves before they meet storage: out-of-range records become rejects, and of a day staged more than once one version stays a record. Internal to smt.load.';

-- Undoes a load that raced another one over the same data (see the top of this file): the
-- caller loads the file again, against what is stored then.
CREATE FUNCTION smt._raced_unless(consistent boolean, file_id bigint, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT consistent THEN
        RAISE EXCEPTION 'smt.load: file % raced another load: %', _raced_unless.file_id, what
            USING ERRCODE = 'serialization_failure',
                  DETAIL = 'Two loads changed the same ESIID-channel-day at the same time; nothing of this load was kept.',
                  HINT = 'Load the file again (the smt worker does so by itself): it is then decided against what the other load stored.';
    END IF;
END
$$;
COMMENT ON FUNCTION smt._raced_unless(boolean, bigint, text) IS 'Raises serialization_failure (40001) for a load that raced another over the same ESIID-channel-day, unless consistent. Internal to smt.load.';

-- The rest of a merge, once the file is registered: every staged record against storage,
-- concurrently with other loads (see the top of this file).
CREATE FUNCTION smt._merge_stage(file_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
    months date[];
    month date;
    decided bigint;
    -- the caller's planner settings, restored after the statements whose plans are pinned
    planner text[];
    insert_first boolean;
    sampled bigint;
    -- staged records still to store (settled within the file, not rejected)
    current_records bigint;
    expected bigint;
    written bigint;
BEGIN
    INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, channel, day)
    SELECT _merge_stage.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.channel, s.day
      FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'reject' ORDER BY s.line;

    SELECT array_agg(DISTINCT date_trunc('month', s.day)::date) FILTER (WHERE s.role = 'record'),
           count(*) FILTER (WHERE s.role IN ('record', 'superseded', 'identical')),
           count(*) FILTER (WHERE s.role IN ('superseded', 'identical')),
           count(*) FILTER (WHERE s.role = 'reject'),
           count(*) FILTER (WHERE s.role = 'record')
      INTO months, result.records, result.stale, result.rejected, current_records
      FROM smt.stage s WHERE s.file_id = _merge_stage.file_id;
    PERFORM smt._ensure_partitions(months);

    -- Days nobody has stored are inserted outright: no decision, no second look-up (the insert's
    -- own key check finds the stored ones, which are marked 'stored'). A file of days mostly
    -- stored already (a day sent again, revised) goes the other way round: each record is looked
    -- up and decided first, and only the days not found are inserted, so no insert is tried in
    -- vain. The first records of the file say which. The staging table has no statistics (its
    -- rows live inside one transaction), so the plans are pinned: a hash anti-join of the staged
    -- rows against what was inserted (never a nested loop that rescans it per row), and look-ups
    -- by key into storage (never a scan of a partition per row).
    planner := ARRAY[current_setting('enable_nestloop'), current_setting('enable_seqscan'),
                     current_setting('enable_hashjoin'), current_setting('enable_mergejoin')];
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_hashjoin', 'off', true);
    PERFORM set_config('enable_mergejoin', 'off', true);
    -- (the sample's size, then how many of it are stored by an inner join: on Citus, where
    -- smt.interval_day is distributed, a correlated EXISTS is refused and an outer join pulls every
    -- stored day's key to the coordinator; an inner join sends the sample to the shards instead,
    -- tests/citus/FINDINGS.md. The key makes it match at most once a record.)
    SELECT count(*) INTO sampled
      FROM (SELECT FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' LIMIT 64) s;
    SELECT count(*) * 2 <= sampled
      INTO insert_first
      FROM (SELECT s.esiid, s.channel, s.day FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' LIMIT 64) s
      JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;
    PERFORM set_config('enable_seqscan', planner[2], true);
    PERFORM set_config('enable_hashjoin', planner[3], true);
    PERFORM set_config('enable_mergejoin', planner[4], true);

    IF insert_first THEN
        PERFORM set_config('enable_nestloop', 'off', true);
        WITH inserted AS (
            INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds, scale,
                                          units16, units, kwh_exact, status, transaction_id, file_id)
            SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale,
                   s.units16, s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id
              FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
            ON CONFLICT DO NOTHING
            RETURNING esiid, channel, day
        )
        UPDATE smt.stage s SET decision = 'stored'
         WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
           AND NOT EXISTS (SELECT FROM inserted i WHERE i.esiid = s.esiid AND i.channel = s.channel AND i.day = s.day);
        GET DIAGNOSTICS decided = ROW_COUNT;
        PERFORM set_config('enable_nestloop', planner[1], true);
    END IF;

    IF decided > 0 OR NOT insert_first THEN
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_hashjoin', 'off', true);
        PERFORM set_config('enable_mergejoin', 'off', true);
        -- Each record whose day is stored, against the stored version: a newer or older revision
        -- by comparison, the full rule (smt._decide) only for an equal one.
        UPDATE smt.stage s
           SET decision = CASE
                   WHEN s.revision > d.revision THEN 'replace'
                   WHEN s.revision < d.revision THEN 'keep'
                   ELSE smt._decide(d.revision, d.scale, coalesce(d.units16::integer[], d.units), d.kwh_exact, d.status,
                                    s.revision, s.scale, coalesce(s.units16::integer[], s.units), s.kwh_exact::numeric[], s.status)
               END,
               decided_against = d.file_id
          FROM smt.interval_day d
         WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
           AND (s.decision = 'stored' OR NOT insert_first)
           AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;
        expected := decided;
        GET DIAGNOSTICS decided = ROW_COUNT;
        IF insert_first THEN
            -- every day found stored by the insert is decided (none vanished meanwhile)
            PERFORM smt._raced_unless(decided = expected, _merge_stage.file_id,
                                      'a stored day it found was removed by another transaction meanwhile');
        END IF;
        IF NOT insert_first THEN
            -- The days not found are new, unless another load has just stored one of them.
            INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds, scale,
                                          units16, units, kwh_exact, status, transaction_id, file_id)
            SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale,
                   s.units16, s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id
              FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' AND s.decision IS NULL
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS written = ROW_COUNT;
            PERFORM smt._raced_unless(written = current_records - decided, _merge_stage.file_id,
                                      'a day it found not stored was stored by another load meanwhile');
        END IF;
    END IF;

    IF decided > 0 THEN
        -- Stored versions that lose move to history before being overwritten: the version each
        -- decision was made against (if another load replaced it meanwhile, the update below
        -- finds out and the load is undone).
        INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units16,
                                          units, kwh_exact, status, transaction_id, file_id, loaded_at, outcome,
                                          decided_by_file_id)
        SELECT d.esiid, d.channel, d.day, d.revision, d.first_start, d.interval_seconds, d.scale, d.units16,
               d.units, d.kwh_exact, d.status, d.transaction_id, d.file_id, d.loaded_at,
               CASE s.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, _merge_stage.file_id
          FROM smt.stage s
          JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day
                                 AND d.file_id = s.decided_against
         WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict');
        GET DIAGNOSTICS expected = ROW_COUNT;

        -- Winners over a stored version overwrite it in place, if it is still the version decided
        -- against: a row another load changed since is rechecked by the UPDATE after that load
        -- commits, and no longer matches.
        UPDATE smt.interval_day d
           SET revision = s.revision, first_start = s.first_start, interval_seconds = s.interval_seconds,
               scale = s.scale, units16 = s.units16, units = s.units, kwh_exact = s.kwh_exact::numeric[],
               status = s.status, transaction_id = s.transaction_id, file_id = _merge_stage.file_id, loaded_at = now()
          FROM smt.stage s
         WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict')
           AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day AND d.file_id = s.decided_against;
        GET DIAGNOSTICS written = ROW_COUNT;
        PERFORM smt._raced_unless(
            written = expected AND expected = (SELECT count(*) FROM smt.stage s
                                                 WHERE s.file_id = _merge_stage.file_id
                                                   AND s.decision IN ('replace', 'replace_conflict')),
            _merge_stage.file_id, 'a stored day it replaces was changed by another load meanwhile');
    END IF;
    PERFORM set_config('enable_seqscan', planner[2], true);
    PERFORM set_config('enable_hashjoin', planner[3], true);
    PERFORM set_config('enable_mergejoin', planner[4], true);

    -- Incoming versions that lose are kept too: every version received is somewhere.
    IF decided > 0 OR result.stale > 0 THEN
        INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units16,
                                          units, kwh_exact, status, transaction_id, file_id, loaded_at, outcome,
                                          decided_by_file_id)
        SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units16,
               s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id, now(),
               CASE WHEN s.role = 'superseded' THEN 'superseded_in_file'
                    WHEN s.decision = 'keep' THEN 'stale' ELSE 'conflict_lost' END,
               _merge_stage.file_id
          FROM smt.stage s
         WHERE s.file_id = _merge_stage.file_id AND (s.role = 'superseded' OR s.decision IN ('keep', 'keep_conflict'));
    END IF;

    -- The day totals of every version that became current (inserted or replacing), per month
    -- partition (an upsert needs the partition's own key).
    FOREACH month IN ARRAY coalesce(months, '{}') LOOP
        PERFORM smt._apply_day_totals(_merge_stage.file_id, month);
    END LOOP;

    IF decided > 0 OR result.stale > 0 THEN
        SELECT _merge_stage.file_id, f.format, false, NULL::text, result.records,
               count(*) FILTER (WHERE s.role = 'record' AND s.decision IS NULL),
               count(*) FILTER (WHERE s.decision IN ('replace', 'replace_conflict')),
               count(*) FILTER (WHERE s.decision IN ('keep', 'keep_conflict') OR s.role = 'superseded'),
               count(*) FILTER (WHERE s.decision = 'identical' OR s.role = 'identical'),
               count(*) FILTER (WHERE s.decision IN ('replace_conflict', 'keep_conflict', 'in_file_conflict')),
               result.rejected
          INTO result
          FROM smt.file f
          LEFT JOIN smt.stage s ON s.file_id = f.file_id
         WHERE f.file_id = _merge_stage.file_id
         GROUP BY f.format;
    ELSE
        -- Every record was a day nobody had stored.
        result := ROW(_merge_stage.file_id, (SELECT f.format FROM smt.file f WHERE f.file_id = _merge_stage.file_id),
                      false, NULL, result.records, result.records, 0, 0, 0, 0, result.rejected)::smt.load_result;
    END IF;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_stage.file_id;
    DELETE FROM smt.stage s WHERE s.file_id = _merge_stage.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_stage(bigint) IS
'Merges the staged rows of a file registered by smt.load into storage with the replacement rule; returns the counts also stored in smt.file. Internal to smt.load.';

-- A kept file's bytes as one value: its parts in order (up to PostgreSQL's 1 GB value; a larger
-- file is read part by part from smt.file_content). Runs with the caller's rights.
CREATE FUNCTION smt.file_bytes(file_id bigint) RETURNS bytea
LANGUAGE sql STABLE
RETURN (SELECT coalesce(string_agg(c.data, '\x'::bytea ORDER BY c.part), '\x'::bytea)
          FROM smt.file f LEFT JOIN smt.file_content c ON c.file_id = f.file_id
         WHERE f.file_id = file_bytes.file_id
         GROUP BY f.file_id);
COMMENT ON FUNCTION smt.file_bytes(bigint) IS 'The bytes of a loaded file exactly as given (its parts in smt.file_content, in order); NULL when there is no such file. For files under 1 GB; needs SELECT on smt.file_content.';

CREATE FUNCTION smt.load(data bytea, file_name text, lenient_esiid boolean DEFAULT false)
RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    upload bigint;
BEGIN
    IF data IS NULL OR file_name IS NULL OR lenient_esiid IS NULL THEN
        RAISE EXCEPTION 'smt.load needs the file''s bytes, its name and lenient_esiid, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('data %s, file_name %s, lenient_esiid %s',
                                  CASE WHEN data IS NULL THEN 'is NULL' ELSE 'given' END,
                                  CASE WHEN file_name IS NULL THEN 'is NULL' ELSE 'given' END,
                                  CASE WHEN lenient_esiid IS NULL THEN 'is NULL' ELSE 'given' END),
                  HINT = 'Call smt.load(pg_read_binary_file(...), ''name''), or use `smt import FILE`.';
    END IF;
    upload := smt.load_begin(file_name, lenient_esiid);
    PERFORM smt.load_part(upload, data);
    RETURN smt.load_end(upload);
END
$$;
COMMENT ON FUNCTION smt.load(bytea, text, boolean) IS
'Loads one LSE or SMT interval CSV file: newer revisions replace stored days (the old version moves to smt.interval_version), older ones are kept as stale, bad records go to smt.reject, and the raw file is kept. Loading the same content twice changes nothing (already_loaded = true). The way data enters smt, for a file in one piece; smt.load_begin / smt.load_part / smt.load_end stream a file of any size.';
