-- Loading files into storage, with the replacement rule. One door: smt.load(bytea, name).
--
-- The caller hands over the file's bytes and nothing else it could get wrong or forge: the
-- database computes the digest, keeps the bytes, detects the format, parses with smt-core
-- (smt._stage, the same code the CLI uses) and merges. The smt scheduler loads this way too.
--
-- Steps, all in the caller's transaction (so the registry row and the data commit together):
--   1. register: the same content (sha256) loaded before means nothing to do; otherwise the file
--      is registered and its raw bytes kept, whatever happens next.
--   2. staging rows in smt.stage, keyed by the file: one per record (role 'record') or rejected
--      record (role 'reject'), in file order.
--   3. smt._merge_stage: each staged version against the stored one by smt._decide (core's rule);
--      losers of every kind go to smt.interval_version, winners are upserted, rejects recorded.
--
-- Trust: smt.load is SECURITY DEFINER (a loader needs no table privileges) and touches only
-- objects of this extension, found by schema-qualified names under a pinned search_path; nothing
-- a caller can create, own or alter (a temporary table, a function on its search_path) is ever
-- read or written by it. smt.stage and the helper functions are not granted to anyone.
--
-- Loads are serialized by a transaction-level advisory lock: two loads touching the same day
-- must not both decide against the same stored version.

-- The staging rows of the load in progress. Its columns are exactly smt._stage's (the one
-- definition of a staging row, in extension/src/load_sql.rs), plus the file and the merge's
-- decision. Unlogged: rows live only inside the loading transaction.
CREATE UNLOGGED TABLE smt.stage AS
SELECT NULL::bigint AS file_id, s.*, NULL::text AS decision
  FROM smt._stage(''::bytea, false) s
  WITH NO DATA;
-- No index: loads are serialized and each empties its rows before committing, so the table only
-- ever holds the load in progress and every step reads all of it (an index cost 10% per load).
COMMENT ON TABLE smt.stage IS 'Staging rows of the load in progress (written and emptied by smt.load only, inside the loading transaction; never granted).';
COMMENT ON COLUMN smt.stage.file_id IS 'The file being loaded (smt.file).';
COMMENT ON COLUMN smt.stage.role IS 'record (a good record), reject (a bad one), superseded or identical (settled within the file).';
COMMENT ON COLUMN smt.stage.esiid IS 'ESIID of a record.';
COMMENT ON COLUMN smt.stage.channel IS 'Channel of a record.';
COMMENT ON COLUMN smt.stage.day IS 'Operating day of a record.';
COMMENT ON COLUMN smt.stage.revision IS 'Revision of a record.';
COMMENT ON COLUMN smt.stage.first_start IS 'Start of the first interval of a record.';
COMMENT ON COLUMN smt.stage.interval_seconds IS 'Interval length of a record.';
COMMENT ON COLUMN smt.stage.scale IS 'Decimal scale of units.';
COMMENT ON COLUMN smt.stage.units IS 'Values as scaled integers.';
COMMENT ON COLUMN smt.stage.kwh_exact IS 'Values as decimal text when they do not fit units.';
COMMENT ON COLUMN smt.stage.status IS 'One character per interval: A, E or -.';
COMMENT ON COLUMN smt.stage.transaction_id IS 'LSE transaction id.';
COMMENT ON COLUMN smt.stage.line IS '1-based line in the file.';
COMMENT ON COLUMN smt.stage.field IS 'Field at fault (rejects).';
COMMENT ON COLUMN smt.stage.kind IS 'Kind of problem (rejects).';
COMMENT ON COLUMN smt.stage.reason IS 'What is wrong (rejects).';
COMMENT ON COLUMN smt.stage.raw IS 'Text of the offending line (rejects).';
COMMENT ON COLUMN smt.stage.decision IS 'What the merge decided: insert, replace, replace_conflict, keep, keep_conflict, identical; in_file_conflict for a version that lost to one of the same revision in the same file.';

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
COMMENT ON COLUMN smt.load_result.format IS 'Format detected from the content: lse, interval_csv, daily_csv, monthly_csv; NULL if unknown.';
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
    IF to_regclass('smt.meter_data_guard') IS NULL THEN
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

-- Registers a file by content; the digest is computed here from the bytes that are kept.
CREATE FUNCTION smt._register_file(
    data bytea,
    file_name text,
    detected text,
    OUT file_id bigint,
    OUT already_loaded boolean
)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    digest bytea := sha256(data);
BEGIN
    SELECT f.file_id, f.state = 'loaded' INTO file_id, already_loaded FROM smt.file f WHERE f.sha256 = digest;
    IF FOUND THEN
        -- Content that failed before (a format this version could not load then) is tried again
        -- under its first registration; only loaded content counts as already loaded.
        IF NOT already_loaded THEN
            UPDATE smt.file f SET state = 'loading', error = NULL WHERE f.file_id = _register_file.file_id;
        END IF;
        RETURN;
    END IF;
    already_loaded := false;
    PERFORM smt._guard_meter_data();
    -- session_user: inside SECURITY DEFINER smt.load current_user is the owner, not the loader.
    INSERT INTO smt.file (name, sha256, size_bytes, format, loaded_by)
    VALUES (file_name, digest, octet_length(data), detected, session_user)
    RETURNING smt.file.file_id INTO file_id;
    INSERT INTO smt.file_content (file_id, data) VALUES (file_id, data);
END
$$;
COMMENT ON FUNCTION smt._register_file(bytea, text, text) IS
'Registers a file by the SHA-256 of its bytes (computed here) and keeps the bytes; already_loaded = true when the same content was loaded before (content that failed is registered again under its first id, to be tried again). Internal to smt.load.';

-- The last operating day a delivery can hold: tomorrow in Central time.
CREATE FUNCTION smt._tomorrow() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (now() AT TIME ZONE 'America/Chicago')::date + 1;
COMMENT ON FUNCTION smt._tomorrow() IS 'Tomorrow''s date in Central prevailing time: no delivery holds an operating day after it.';

CREATE FUNCTION smt._merge_stage(file_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
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
     WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
       AND (s.day < date '2000-01-01' OR s.day > smt._tomorrow() OR s.revision > now() + interval '1 hour');

    -- A file may hold several versions of one day (SMT's "all versions" reports). Core's rule is a
    -- total order, so exactly one staged version of each day beats or equals all the others: the
    -- rest are superseded (older or losing) or identical repeats of an earlier line.
    WITH staged AS (
        SELECT s.* FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
    ), dup AS (
        SELECT s.esiid, s.channel, s.day FROM staged s
         GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1
    ), pairs AS (
        SELECT s.line, o.line AS other_line,
               smt._decide(s.revision, s.scale, s.units, s.kwh_exact::numeric[], s.status,
                           o.revision, o.scale, o.units, o.kwh_exact::numeric[], o.status) AS other_vs_this
          FROM staged s
          JOIN dup ON dup.esiid = s.esiid AND dup.channel = s.channel AND dup.day = s.day
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
     WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' AND s.line = v.line
       AND (v.beaten OR v.repeated);

    INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, channel, day)
    SELECT _merge_stage.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.channel, s.day
      FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'reject' ORDER BY s.line;

    PERFORM smt._ensure_partitions(array_agg(DISTINCT date_trunc('month', s.day)::date))
       FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'record';

    UPDATE smt.stage s SET decision = 'insert' WHERE s.file_id = _merge_stage.file_id AND s.role = 'record';
    UPDATE smt.stage s
       SET decision = smt._decide(d.revision, d.scale, d.units, d.kwh_exact, d.status,
                                  s.revision, s.scale, s.units, s.kwh_exact::numeric[], s.status)
      FROM smt.interval_day d
     WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
       AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;

    -- Stored versions that lose move to history before being overwritten.
    INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                      kwh_exact, status, transaction_id, file_id, loaded_at, outcome, decided_by_file_id)
    SELECT d.esiid, d.channel, d.day, d.revision, d.first_start, d.interval_seconds, d.scale, d.units,
           d.kwh_exact, d.status, d.transaction_id, d.file_id, d.loaded_at,
           CASE s.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, _merge_stage.file_id
      FROM smt.stage s
      JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day
     WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict');

    -- Incoming versions that lose are kept too: every version received is somewhere.
    INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                      kwh_exact, status, transaction_id, file_id, loaded_at, outcome, decided_by_file_id)
    SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units,
           s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id, now(),
           CASE WHEN s.role = 'superseded' THEN 'superseded_in_file'
                WHEN s.decision = 'keep' THEN 'stale' ELSE 'conflict_lost' END,
           _merge_stage.file_id
      FROM smt.stage s
     WHERE s.file_id = _merge_stage.file_id AND (s.role = 'superseded' OR s.decision IN ('keep', 'keep_conflict'));

    -- Winners over a stored version overwrite it in place; days not stored before are inserted.
    -- (No ON CONFLICT: the key is each partition's own, see smt._ensure_partitions.)
    UPDATE smt.interval_day d
       SET revision = s.revision, first_start = s.first_start, interval_seconds = s.interval_seconds,
           scale = s.scale, units = s.units, kwh_exact = s.kwh_exact::numeric[], status = s.status,
           transaction_id = s.transaction_id, file_id = _merge_stage.file_id, loaded_at = now()
      FROM smt.stage s
     WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict')
       AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;

    INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                  kwh_exact, status, transaction_id, file_id)
    SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units,
           s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id
      FROM smt.stage s
     WHERE s.file_id = _merge_stage.file_id AND s.decision = 'insert';

    SELECT _merge_stage.file_id, f.format, false, NULL::text,
           count(*) FILTER (WHERE s.role <> 'reject'),
           count(*) FILTER (WHERE s.decision = 'insert'),
           count(*) FILTER (WHERE s.decision IN ('replace', 'replace_conflict')),
           count(*) FILTER (WHERE s.decision IN ('keep', 'keep_conflict') OR s.role = 'superseded'),
           count(*) FILTER (WHERE s.decision = 'identical' OR s.role = 'identical'),
           count(*) FILTER (WHERE s.decision IN ('replace_conflict', 'keep_conflict', 'in_file_conflict')),
           count(*) FILTER (WHERE s.role = 'reject')
      INTO result
      FROM smt.file f
      LEFT JOIN smt.stage s ON s.file_id = f.file_id
     WHERE f.file_id = _merge_stage.file_id
     GROUP BY f.format;

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

CREATE FUNCTION smt.load(data bytea, file_name text, lenient_esiid boolean DEFAULT false)
RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    detected text;
    registered record;
    result smt.load_result;
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
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'));
    detected := smt.detect_format(data);
    SELECT r.file_id, r.already_loaded INTO registered FROM smt._register_file(data, file_name, detected) r;
    IF registered.already_loaded THEN
        -- This load did nothing, so every count is 0 (smt.file keeps what the first load did):
        -- totals over many loads never count a file twice.
        SELECT f.file_id, f.format, true, f.error, 0, 0, 0, 0, 0, 0, 0
          INTO result FROM smt.file f WHERE f.file_id = registered.file_id;
        RAISE NOTICE 'smt.load: % has the same content as file % already loaded; nothing changed',
            file_name, registered.file_id;
        RETURN result;
    END IF;

    IF detected IS NULL OR detected NOT IN ('lse', 'interval_csv') THEN
        result := ROW(registered.file_id, detected, false,
                      CASE WHEN detected IS NULL THEN 'not an LSE or SMT CSV report (unknown content)'
                           ELSE format('%s reports are not loaded yet (only LSE and SMT interval CSV)', detected) END,
                      0, 0, 0, 0, 0, 0, 0)::smt.load_result;
        UPDATE smt.file f SET state = 'failed', error = result.error WHERE f.file_id = registered.file_id;
        RAISE WARNING 'smt.load: %: %; kept as file % with state failed', file_name, result.error, registered.file_id;
        RETURN result;
    END IF;

    INSERT INTO smt.stage SELECT registered.file_id, s.*, NULL FROM smt._stage(data, lenient_esiid) s;
    RETURN smt._merge_stage(registered.file_id);
END
$$;
COMMENT ON FUNCTION smt.load(bytea, text, boolean) IS
'Loads one LSE or SMT interval CSV file: newer revisions replace stored days (the old version moves to smt.interval_version), older ones are kept as stale, bad records go to smt.reject, and the raw file is kept. Loading the same content twice changes nothing (already_loaded = true). The only way data enters smt; the smt scheduler uses it too.';
