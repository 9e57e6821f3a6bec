-- smt 0.1.0 -> 0.2.0. Frozen once released, like every script in extension/sql: a later change
-- ships as its own smt--0.2.0--X.sql. tests/tests/upgrade.rs proves that this script turns a
-- 0.1.0 database holding data into exactly the schema of a fresh 0.2.0 install, rows intact.
--
-- What 0.2.0 changes:
--   * smt.load is the only door for data: the database digests, keeps, parses and stages the
--     bytes itself (staging in the extension-owned smt.stage); the 0.1.0 protocol that let a
--     loader stage its own rows in a temporary table touched by SECURITY DEFINER code, claim
--     digests and fail any file is gone.
--   * pg_dump writes every data table's rows; DROP EXTENSION needs CASCADE while data is held.
--   * The scheduler's state changes through named functions; job kinds are rows.
--   * Views are security_invoker; every object has a comment.

-- 1. The 0.1.0 load protocol.
DROP FUNCTION smt.load(bytea, text, boolean);
DROP FUNCTION smt.merge_stage(bigint);
DROP FUNCTION smt.begin_file(bytea, text, text, bytea);
DROP FUNCTION smt.fail_file(bigint, text);
DROP FUNCTION smt.create_stage();
DROP FUNCTION smt.ensure_partitions(date, date);

-- 2. Partitions for the months that hold data; pg_dump registration of the data tables.
-- Monthly partitions of smt.interval_day, made when a load needs them: only the months that hold
-- data (a stray day in 1900 makes one partition, not 1,500). Called by smt.load, which runs as the
-- extension's owner, so loaders need no CREATE privilege; loads are serialized, so no two make
-- the same partition. Partitions made here are not members of the extension: pg_dump writes
-- them with their rows like any table of the database.
CREATE FUNCTION smt._ensure_partitions(months date[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    month date;
    part text;
    made integer := 0;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', m)::date FROM unnest(months) m WHERE m IS NOT NULL ORDER BY 1
    LOOP
        part := format('interval_day_%s', to_char(month, 'YYYY_MM'));
        IF to_regclass(format('smt.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE smt.%I PARTITION OF smt.interval_day FOR VALUES FROM (%L) TO (%L)',
                part, month, (month + interval '1 month')::date);
            EXECUTE format('ALTER TABLE smt.%I ADD PRIMARY KEY (esiid, channel, day)', part);
            EXECUTE format('COMMENT ON TABLE smt.%I IS %L', part,
                format('smt.interval_day rows for operating days in %s.', to_char(month, 'YYYY-MM')));
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;
COMMENT ON FUNCTION smt._ensure_partitions(date[]) IS 'Creates the monthly partitions of smt.interval_day for the given months that do not exist yet; returns how many it made. Internal to smt.load.';

-- pg_dump writes the rows of these tables (and the positions of their identity sequences): they
-- hold the meter data and the scheduler's state, not configuration the extension recreates.
SELECT pg_catalog.pg_extension_config_dump('smt.file', '');
SELECT pg_catalog.pg_extension_config_dump('smt.file_file_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.file_content', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_day', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_version_version_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.reject', '');
SELECT pg_catalog.pg_extension_config_dump('smt.reject_reject_id_seq', '');

-- 0.1.0 made a partition for every month between a file's first and last day: the empty ones go
-- (a load makes a month's partition again when it has data for it).
DO $$
DECLARE
    part regclass;
    has_rows boolean;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
                 WHERE i.inhparent = 'smt.interval_day'::regclass
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', part) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE %s', part);
        END IF;
    END LOOP;
END
$$;

-- The key becomes each partition's own (see schema.sql): pg_restore cannot attach a dumped
-- partition that brings its key to a parent that has one.
ALTER TABLE smt.interval_day DROP CONSTRAINT interval_day_pkey;
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
                 WHERE i.inhparent = 'smt.interval_day'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (esiid, channel, day)', part);
    END LOOP;
END
$$;

-- Rejects say which ESIID-channel-day they cost, when the file says it.
ALTER TABLE smt.reject ADD COLUMN esiid text, ADD COLUMN channel smallint, ADD COLUMN day date;
COMMENT ON TABLE smt.reject IS 'Records that could not be loaded, one row each, with where and why, and which ESIID-channel-day they held when known. The whole file stays in smt.file_content.';
COMMENT ON COLUMN smt.reject.kind IS 'Kind of problem: wrong_interval_count, non_numeric_value, unknown_status, invalid_esiid, bad_timestamp, truncated_record, missing_field, invalid_text (a NUL byte or invalid UTF-8), out_of_sequence, day_out_of_range (before 2000 or after tomorrow), revision_in_future, ...';
COMMENT ON COLUMN smt.reject.esiid IS 'ESIID of the record the reject belongs to, when the file says it (NULL when even that could not be read).';
COMMENT ON COLUMN smt.reject.channel IS 'Channel of that record, when known.';
COMMENT ON COLUMN smt.reject.day IS 'Operating day of that record, when known: with esiid, which ESIID-day a reject cost.';

-- 3. The one loading door (as in sql/extension/load.sql).

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

-- 4. A database that already holds data gets its DROP guard now (not a member, as after a load).
DO $$
BEGIN
    IF EXISTS (SELECT FROM smt.file) THEN
        PERFORM smt._guard_meter_data();
        ALTER EXTENSION smt DROP VIEW smt.meter_data_guard;
    END IF;
END
$$;

-- 5. smt.normalize_15min checks its arguments; views run with the reader's rights.
-- What smt.normalize_15min accepts: as many ends and kWh values as starts, finite instants, source
-- intervals of at most 45 days (a billing period) and at most 1,000,000 15-minute slots in all
-- (28 years of one meter), so that no argument can make it run for minutes or pad silently.
CREATE FUNCTION smt._normalize_15min_check(starts timestamptz[], ends timestamptz[], kwh numeric[])
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n integer := coalesce(array_length(starts, 1), 0);
    slots numeric;
BEGIN
    IF coalesce(array_length(ends, 1), 0) <> n OR coalesce(array_length(kwh, 1), 0) <> n THEN
        RAISE EXCEPTION 'smt.normalize_15min needs one end and one kWh value for each start'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('%s starts, %s ends, %s kWh values', n,
                                  coalesce(array_length(ends, 1), 0), coalesce(array_length(kwh, 1), 0));
    END IF;
    IF EXISTS (SELECT FROM unnest(starts, ends) u(s, e) WHERE NOT isfinite(s) OR NOT isfinite(e)) THEN
        RAISE EXCEPTION 'smt.normalize_15min takes finite instants only'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave out intervals with an infinite start or end.';
    END IF;
    IF EXISTS (SELECT FROM unnest(starts, ends) u(s, e) WHERE e - s > interval '45 days') THEN
        RAISE EXCEPTION 'smt.normalize_15min takes source intervals of at most 45 days'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Split longer periods (a billing period is at most about 35 days).';
    END IF;
    SELECT coalesce(sum(ceil(extract(epoch FROM u.e - u.s) / 900) + 1), 0) INTO slots
      FROM unnest(starts, ends) u(s, e) WHERE u.e > u.s;
    IF slots > 1000000 THEN
        RAISE EXCEPTION 'smt.normalize_15min would make % slots, more than 1,000,000', slots
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Normalize a meter''s data a year or so at a time.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt._normalize_15min_check(timestamptz[], timestamptz[], numeric[]) IS
'Checks the arguments of smt.normalize_15min (equal lengths, finite instants, sources of at most 45 days, at most 1,000,000 slots) and raises a clear error otherwise.';

CREATE OR REPLACE FUNCTION smt.normalize_15min(starts timestamptz[], ends timestamptz[], kwh numeric[])
RETURNS TABLE (interval_start timestamptz, interval_end timestamptz, kwh numeric, coverage numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH src AS (
        SELECT u.n, u.s, u.e, u.k, extract(epoch FROM u.e - u.s) AS secs
          FROM unnest(starts, ends, kwh) WITH ORDINALITY AS u(s, e, k, n)
         WHERE smt._normalize_15min_check(starts, ends, kwh) AND u.e > u.s AND u.k IS NOT NULL
    ), pieces AS (
        SELECT src.n, src.k, g AS slot,
               extract(epoch FROM least(src.e, g + interval '15 minutes') - greatest(src.s, g)) AS overlap,
               src.secs,
               row_number() OVER (PARTITION BY src.n ORDER BY g DESC) = 1 AS last_piece
          FROM src
         CROSS JOIN LATERAL generate_series(
               date_bin(interval '15 minutes', src.s, timestamptz '2000-01-01 00:00:00+00'),
               src.e - interval '1 microsecond', interval '15 minutes') AS g
    ), shares AS (
        SELECT p.n, p.slot, p.overlap, p.last_piece,
               CASE WHEN p.last_piece THEN NULL
                    ELSE trunc(p.k * p.overlap / p.secs, scale(p.k) + 6) END AS share, p.k
          FROM pieces p
    ), settled AS (
        SELECT sh.slot, sh.overlap,
               coalesce(sh.share, sh.k - coalesce(sum(sh.share) OVER (PARTITION BY sh.n), 0)) AS share
          FROM shares sh
    )
    SELECT st.slot, st.slot + interval '15 minutes', sum(st.share), round(sum(st.overlap) / 900, 6)
      FROM settled st
     GROUP BY st.slot
     ORDER BY st.slot;
END;
COMMENT ON FUNCTION smt.normalize_15min(timestamptz[], timestamptz[], numeric[]) IS
'Spreads source intervals (any length, aligned or not) over the UTC 15-minute grid by overlap, exactly: each source''s shares add up to its kWh. coverage is the fraction of each slot covered by source data (may exceed 1 where sources overlap).';


ALTER VIEW smt.interval SET (security_invoker = true);
ALTER VIEW smt.interval_15min SET (security_invoker = true);
ALTER VIEW smt.daily_usage SET (security_invoker = true);
ALTER VIEW smt.completeness SET (security_invoker = true);
ALTER VIEW smt.interval_versions SET (security_invoker = true);

-- 6. Comments on the functions written in Rust.
COMMENT ON FUNCTION smt.esiid_normalize(text) IS 'An ESIID as SMT files write it, normalized: spaces and the spreadsheet apostrophe removed.';
COMMENT ON FUNCTION smt.esiid_valid(text, boolean) IS 'Whether an ESIID is valid: 17 or 22 digits (strict), or 1-64 letters and digits as the LSE spec allows (lenient = true).';
COMMENT ON FUNCTION smt.esiid_tdsp(text) IS 'The transmission and distribution service provider (TDSP) an ESIID belongs to, from its prefix; NULL when the prefix is not known.';
COMMENT ON FUNCTION smt.detect_format(bytea) IS 'The format of a file from its content: lse, interval_csv, daily_csv, monthly_csv; NULL when unknown.';
COMMENT ON FUNCTION smt.day_slots(date, integer) IS 'How many intervals of the given length an operating day (Central prevailing time) has: 96, or 92 / 100 on DST days at 15 minutes.';
COMMENT ON FUNCTION smt.lse_parse(bytea, boolean) IS 'Parses an LSE file into one row per interval, with the bad records as rows carrying their error; changes nothing in the database.';
COMMENT ON FUNCTION smt.csv_parse(bytea, boolean) IS 'Parses an SMT interval CSV file into one row per interval, with the bad rows carrying their error; changes nothing in the database.';
COMMENT ON FUNCTION smt.cron_next(text, text, timestamp with time zone) IS 'The first time after the given instant that a 5-field crontab line matches, read in the given time zone (DST-safe).';
COMMENT ON FUNCTION smt._stage(bytea, boolean) IS 'Staging rows of a file for smt.load: one per record (role record) or bad record (role reject), in file order. The one definition of a staging row.';
COMMENT ON FUNCTION smt._decide(timestamp with time zone, smallint, integer[], numeric[], text, timestamp with time zone, smallint, integer[], numeric[], text) IS 'The replacement rule (smt-core) on a stored and an incoming version of an ESIID-channel-day: replace, replace_conflict, keep, keep_conflict or identical.';

-- 7. The scheduler's state API (as in sql/extension/jobs.sql).
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
    ('import_dir', 'Loads every file in a local directory (not hidden, not .part) once. params: source (a name under [import_dirs] in the worker''s config file).', true);

ALTER TABLE smt.job DROP CONSTRAINT job_kind_check;
ALTER TABLE smt.job ADD CONSTRAINT job_kind_fkey FOREIGN KEY (kind) REFERENCES smt.job_kind (kind);
ALTER TABLE smt.job ADD COLUMN max_retry_delay interval NOT NULL DEFAULT '1 hour';
-- Jobs of 0.1.0 named their site's host, user, password variable and key files in params; those
-- now live in the worker's config file ([ftps.NAME]) and params may not hold them. Such a job is
-- disabled with its params emptied and last_error saying what to do (only key names are kept).
UPDATE smt.job j
   SET last_error = format('upgrade to smt 0.2.0: params named %s, which now belong in the worker''s config file; define the site there ([ftps.NAME] or [import_dirs]) and set params to {"source": "NAME"} (ftps_fetch also takes "dirs"), then enable the job',
                           (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(j.params) k)),
       params = '{}', enabled = false
 WHERE jsonb_typeof(j.params) = 'object'
   AND (jsonb_path_exists(j.params,
            'lax $.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "passw|passphrase|pwd|secret|token|credential|private|key([^a-z]|$)" flag "i")')
        OR jsonb_path_exists(j.params, 'lax $.** ? (@.type() == "string" && @ like_regex "private key" flag "i")'));
ALTER TABLE smt.job ADD CONSTRAINT job_params_hold_no_secrets CHECK (
        NOT jsonb_path_exists(params,
            'lax $.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "passw|passphrase|pwd|secret|token|credential|private|key([^a-z]|$)" flag "i")')
        AND NOT jsonb_path_exists(params,
            'lax $.** ? (@.type() == "string" && @ like_regex "private key" flag "i")'));
COMMENT ON TABLE smt.job IS 'Scheduled jobs of the smt scheduler. Add them with smt.job_add; change schedule, enabled or params with UPDATE; workers pick the change up without a restart.';
COMMENT ON COLUMN smt.job.job_id IS 'Identifier of the job.';
COMMENT ON COLUMN smt.job.name IS 'Unique name, used by `smt jobs`.';
COMMENT ON COLUMN smt.job.schedule IS 'Standard 5-field crontab line (minute hour day-of-month month day-of-week, Sunday = 0 or 7) or @hourly/@daily/@weekly/@monthly/@yearly.';
COMMENT ON COLUMN smt.job.time_zone IS 'Time zone the schedule is read in (default America/Chicago; DST-safe).';
COMMENT ON COLUMN smt.job.kind IS 'What the job does: a row of smt.job_kind (ftps_fetch: download from an SMT FTPS site and load; import_dir: load files from a local directory).';
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
CREATE OR REPLACE FUNCTION smt.job_changed() RETURNS trigger
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
COMMENT ON TRIGGER job_changed ON smt.job IS 'Runs smt.job_changed: next_run_at follows schedule and time_zone, re-enabling clears a failure, workers are notified.';

ALTER TABLE smt.job_run ADD COLUMN claimed_by text;
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

-- Each worker role keeps its own registry of deliveries. Rows from 0.1.0 belong to the role that
-- runs this upgrade: a worker under another role sees those files as new, fetches them again, and
-- smt.load recognizes the reports already loaded by their digest.
ALTER TABLE smt.remote_file ADD COLUMN registered_by text NOT NULL DEFAULT session_user;
ALTER TABLE smt.remote_file DROP CONSTRAINT remote_file_source_directory_name_size_bytes_modified_at_key;
ALTER TABLE smt.remote_file ADD CONSTRAINT remote_file_source_directory_name_size_bytes_modified_at_re_key
    UNIQUE NULLS NOT DISTINCT (source, directory, name, size_bytes, modified_at, registered_by);
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

-- pg_dump writes the scheduler's state (and the positions of the identity sequences); of the job
-- kinds only those a DBA added, since CREATE EXTENSION makes the built-in ones.
SELECT pg_catalog.pg_extension_config_dump('smt.job_kind', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('smt.job', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_run', '');
SELECT pg_catalog.pg_extension_config_dump('smt.job_run_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.remote_file', '');
SELECT pg_catalog.pg_extension_config_dump('smt.remote_file_remote_file_id_seq', '');

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
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.delivery_loaded(bigint, bigint[], bytea) IS
'Marks a fetched delivery of the calling login role loaded, with the smt.file rows of its reports (each must exist) and the SHA-256 of its bytes. Call it in the transaction that loaded the reports, so both commit together. False (and nothing changed) when it is not theirs or was never fetched.';

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
COMMENT ON COLUMN smt.file_log.format IS 'Detected format (lse, interval_csv, ...), NULL if unknown.';
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

CREATE OR REPLACE VIEW smt.stale_remote_file WITH (security_invoker = true) AS
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

-- 8. Grants.
-- The worker's table privileges of 0.1.0 go: its bookkeeping goes through the functions now.
REVOKE ALL ON smt.job_run, smt.remote_file, smt.job FROM smt_loader;
REVOKE ALL (next_run_at, consecutive_failures, failed_at, last_error) ON smt.job FROM smt_loader;
-- The scheduler's state changes only through the functions of jobs.sql. The worker protocol runs
-- as the extension owner (SECURITY DEFINER) and acts only on the caller's own runs and deliveries,
-- so smt_loader needs no table privileges; only smt_loader may call it.
REVOKE EXECUTE ON FUNCTION smt.enqueue_due(), smt.abandon_crashing_runs(integer),
    smt.claim_run(text, interval), smt.heartbeat_run(bigint, text, interval),
    smt.succeed_run(bigint, text, jsonb), smt.fail_run(bigint, text, text),
    smt.delivery_seen(text, text, text, bigint, timestamptz),
    smt.delivery_imported(text, text, text, bigint, timestamptz, text, boolean),
    smt.deliveries(text, text), smt.delivery_fetched(bigint, text, bytea),
    smt.delivery_loaded(bigint, bigint[], bytea), smt.delivery_quarantined(bigint, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.enqueue_due(), smt.abandon_crashing_runs(integer),
    smt.claim_run(text, interval), smt.heartbeat_run(bigint, text, interval),
    smt.succeed_run(bigint, text, jsonb), smt.fail_run(bigint, text, text),
    smt.delivery_seen(text, text, text, bigint, timestamptz),
    smt.delivery_imported(text, text, text, bigint, timestamptz, text, boolean),
    smt.deliveries(text, text), smt.delivery_fetched(bigint, text, bytea),
    smt.delivery_loaded(bigint, bigint[], bytea), smt.delivery_quarantined(bigint, text, bytea) TO smt_loader;
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
GRANT SELECT ON smt.interval_day, smt.interval_version, smt.file, smt.reject TO smt_reader;
REVOKE SELECT ON smt.file, smt.reject FROM smt_loader;
REVOKE EXECUTE ON FUNCTION smt.load(bytea, text, boolean), smt._register_file(bytea, text, text),
    smt._merge_stage(bigint), smt._ensure_partitions(date[]), smt._guard_meter_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.load(bytea, text, boolean) TO smt_loader;
-- The admin had ALL: TRIGGER goes (a trigger on a table that smt.load or the worker functions
-- write would run as the extension's owner), and the staging table is nobody's.
DO $$
DECLARE
    r regclass;
BEGIN
    FOR r IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'smt'
         WHERE c.relkind IN ('r', 'p', 'v')
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM smt_admin', r);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %s TO smt_admin', r);
    END LOOP;
END
$$;
REVOKE ALL ON smt.stage FROM smt_admin;
