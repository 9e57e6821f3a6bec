-- Loading files into storage, with the replacement rule. Two doors, one merge:
--
--   smt.load(bytea, name)            in-database: parse with smt._stage (Rust, smt-core) and merge.
--   smt scheduler / smt import       parses with smt-core itself and binary-COPYs the same staging
--                                    rows into pg_temp.smt_stage, then calls the same merge.
--
-- Steps, all in the caller's transaction (so the registry row and the data commit together):
--   1. smt.begin_file: the same content (sha256) loaded before means nothing to do; otherwise the
--      file is registered and its raw bytes kept, whatever happens next.
--   2. staging rows in pg_temp.smt_stage (smt.create_stage makes the table): one per record
--      (role 'record') or rejected record (role 'reject'), in file order.
--   3. smt.merge_stage: each staged version against the stored one by smt._decide (core's rule);
--      losers of every kind go to smt.interval_version, winners are upserted, rejects recorded.
--
-- Loads are serialized by a transaction-level advisory lock: two loads touching the same day
-- must not both decide against the same stored version.

-- The staging table of this session. kwh_exact is text[] so that a binary COPY needs no numeric
-- encoder; it is cast to numeric[] in the merge.
CREATE FUNCTION smt.create_stage() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF to_regclass('pg_temp.smt_stage') IS NULL THEN
        CREATE TEMP TABLE smt_stage (
            role text, esiid text, channel smallint, day date, revision timestamptz, first_start timestamptz,
            interval_seconds integer, scale smallint, units integer[], kwh_exact text[], status text,
            transaction_id text, line bigint, field text, kind text, reason text, raw text, decision text
        ) ON COMMIT DROP;
    ELSE
        TRUNCATE pg_temp.smt_stage;
    END IF;
END
$$;
COMMENT ON FUNCTION smt.create_stage() IS 'Creates (or empties) this session''s staging table pg_temp.smt_stage, dropped at commit.';

CREATE FUNCTION smt.begin_file(
    digest bytea,
    file_name text,
    detected text,
    data bytea,
    OUT file_id bigint,
    OUT already_loaded boolean
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF digest IS NULL OR file_name IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'smt.begin_file needs the digest, name and bytes of the file' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'));
    SELECT f.file_id INTO file_id FROM smt.file f WHERE f.sha256 = digest;
    IF FOUND THEN
        already_loaded := true;
        RETURN;
    END IF;
    already_loaded := false;
    -- session_user: inside this SECURITY DEFINER function current_user is the owner, not the loader.
    INSERT INTO smt.file (name, sha256, size_bytes, format, loaded_by)
    VALUES (file_name, digest, octet_length(data), detected, session_user)
    RETURNING smt.file.file_id INTO file_id;
    INSERT INTO smt.file_content (file_id, data) VALUES (file_id, data);
END
$$;
COMMENT ON FUNCTION smt.begin_file(bytea, text, text, bytea) IS
'Registers a file by content (sha256) and keeps its bytes; already_loaded = true when the same content was registered before. Part of the load protocol used by the smt scheduler.';

CREATE FUNCTION smt.fail_file(file_id bigint, reason text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ UPDATE smt.file SET state = 'failed', error = reason WHERE smt.file.file_id = fail_file.file_id $$;
COMMENT ON FUNCTION smt.fail_file(bigint, text) IS 'Marks a registered file failed with the reason (its bytes stay in smt.file_content).';

CREATE FUNCTION smt.merge_stage(
    file_id bigint,
    OUT records integer,
    OUT inserted integer,
    OUT replaced integer,
    OUT stale integer,
    OUT identical integer,
    OUT conflicts integer,
    OUT rejected integer
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    first_day date;
    last_day date;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'));

    -- A file may hold several versions of one day (SMT's "all versions" reports). Core's rule is a
    -- total order, so exactly one staged version of each day beats or equals all the others: the
    -- rest are superseded (older or losing) or identical repeats of an earlier line.
    WITH dup AS (
        SELECT s.esiid, s.channel, s.day
          FROM pg_temp.smt_stage s WHERE s.role = 'record'
         GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1
    ), pairs AS (
        SELECT s.line, o.line AS other_line,
               smt._decide(s.revision, s.scale, s.units, s.kwh_exact::numeric[], s.status,
                           o.revision, o.scale, o.units, o.kwh_exact::numeric[], o.status) AS other_vs_this
          FROM pg_temp.smt_stage s
          JOIN dup ON dup.esiid = s.esiid AND dup.channel = s.channel AND dup.day = s.day
          JOIN pg_temp.smt_stage o ON o.role = 'record' AND o.esiid = s.esiid AND o.channel = s.channel
                                  AND o.day = s.day AND o.line <> s.line
         WHERE s.role = 'record'
    ), verdict AS (
        SELECT p.line,
               bool_or(p.other_vs_this IN ('replace', 'replace_conflict')) AS beaten,
               bool_or(p.other_vs_this = 'identical' AND p.other_line < p.line) AS repeated
          FROM pairs p GROUP BY p.line
    )
    UPDATE pg_temp.smt_stage s
       SET role = CASE WHEN v.beaten THEN 'superseded' ELSE 'identical' END
      FROM verdict v
     WHERE s.role = 'record' AND s.line = v.line AND (v.beaten OR v.repeated);

    INSERT INTO smt.reject (file_id, line, field, kind, reason, raw)
    SELECT merge_stage.file_id, s.line, s.field, s.kind, s.reason, s.raw
      FROM pg_temp.smt_stage s WHERE s.role = 'reject' ORDER BY s.line;

    SELECT min(s.day), max(s.day) INTO first_day, last_day FROM pg_temp.smt_stage s WHERE s.role = 'record';
    PERFORM smt.ensure_partitions(first_day, last_day);

    UPDATE pg_temp.smt_stage s SET decision = 'insert' WHERE s.role = 'record';
    UPDATE pg_temp.smt_stage s
       SET decision = smt._decide(d.revision, d.scale, d.units, d.kwh_exact, d.status,
                                  s.revision, s.scale, s.units, s.kwh_exact::numeric[], s.status)
      FROM smt.interval_day d
     WHERE s.role = 'record' AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;

    -- Stored versions that lose move to history before being overwritten.
    INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                      kwh_exact, status, transaction_id, file_id, loaded_at, outcome, decided_by_file_id)
    SELECT d.esiid, d.channel, d.day, d.revision, d.first_start, d.interval_seconds, d.scale, d.units,
           d.kwh_exact, d.status, d.transaction_id, d.file_id, d.loaded_at,
           CASE s.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, merge_stage.file_id
      FROM pg_temp.smt_stage s
      JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day
     WHERE s.decision IN ('replace', 'replace_conflict');

    -- Incoming versions that lose are kept too: every version received is somewhere.
    INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                      kwh_exact, status, transaction_id, file_id, loaded_at, outcome, decided_by_file_id)
    SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units,
           s.kwh_exact::numeric[], s.status, s.transaction_id, merge_stage.file_id, now(),
           CASE WHEN s.role = 'superseded' THEN 'superseded_in_file'
                WHEN s.decision = 'keep' THEN 'stale' ELSE 'conflict_lost' END,
           merge_stage.file_id
      FROM pg_temp.smt_stage s
     WHERE s.role = 'superseded' OR s.decision IN ('keep', 'keep_conflict');

    INSERT INTO smt.interval_day AS d (esiid, channel, day, revision, first_start, interval_seconds, scale, units,
                                       kwh_exact, status, transaction_id, file_id)
    SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units,
           s.kwh_exact::numeric[], s.status, s.transaction_id, merge_stage.file_id
      FROM pg_temp.smt_stage s
     WHERE s.decision IN ('insert', 'replace', 'replace_conflict')
    ON CONFLICT (esiid, channel, day) DO UPDATE
       SET revision = excluded.revision, first_start = excluded.first_start,
           interval_seconds = excluded.interval_seconds, scale = excluded.scale, units = excluded.units,
           kwh_exact = excluded.kwh_exact, status = excluded.status, transaction_id = excluded.transaction_id,
           file_id = excluded.file_id, loaded_at = now();

    SELECT count(*) FILTER (WHERE s.role <> 'reject'),
           count(*) FILTER (WHERE s.decision = 'insert'),
           count(*) FILTER (WHERE s.decision IN ('replace', 'replace_conflict')),
           count(*) FILTER (WHERE s.decision IN ('keep', 'keep_conflict') OR s.role = 'superseded'),
           count(*) FILTER (WHERE s.decision = 'identical' OR s.role = 'identical'),
           count(*) FILTER (WHERE s.decision IN ('replace_conflict', 'keep_conflict')),
           count(*) FILTER (WHERE s.role = 'reject')
      INTO records, inserted, replaced, stale, identical, conflicts, rejected
      FROM pg_temp.smt_stage s;

    UPDATE smt.file f
       SET state = 'loaded', records = merge_stage.records, inserted = merge_stage.inserted,
           replaced = merge_stage.replaced, stale = merge_stage.stale, identical = merge_stage.identical,
           conflicts = merge_stage.conflicts, rejected = merge_stage.rejected
     WHERE f.file_id = merge_stage.file_id;
    TRUNCATE pg_temp.smt_stage;
END
$$;
COMMENT ON FUNCTION smt.merge_stage(bigint) IS
'Merges this session''s staging rows (pg_temp.smt_stage) into storage for a file registered by smt.begin_file, with the replacement rule; returns the counts also stored in smt.file.';

CREATE FUNCTION smt.load(
    data bytea,
    file_name text,
    lenient_esiid boolean DEFAULT false,
    OUT file_id bigint,
    OUT records integer,
    OUT inserted integer,
    OUT replaced integer,
    OUT stale integer,
    OUT identical integer,
    OUT conflicts integer,
    OUT rejected integer,
    OUT already_loaded boolean
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    detected text := smt.detect_format(data);
BEGIN
    IF data IS NULL OR file_name IS NULL THEN
        RAISE EXCEPTION 'smt.load needs the file''s bytes and its name' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT b.file_id, b.already_loaded INTO file_id, already_loaded
      FROM smt.begin_file(sha256(data), file_name, detected, data) b;
    IF already_loaded THEN
        SELECT f.records, f.inserted, f.replaced, f.stale, f.identical, f.conflicts, f.rejected
          INTO records, inserted, replaced, stale, identical, conflicts, rejected
          FROM smt.file f WHERE f.file_id = load.file_id;
        RAISE NOTICE 'smt.load: % has the same content as file % already loaded; nothing changed', file_name, file_id;
        RETURN;
    END IF;

    IF detected IS NULL OR detected NOT IN ('lse', 'interval_csv') THEN
        PERFORM smt.fail_file(file_id,
            format('not an LSE or SMT interval CSV file (detected: %s)', coalesce(detected, 'nothing known')));
        RAISE WARNING 'smt.load: % is not an LSE or SMT interval CSV file (detected: %); kept as file % with state failed',
            file_name, coalesce(detected, 'nothing known'), file_id;
        records := 0; inserted := 0; replaced := 0; stale := 0; identical := 0; conflicts := 0; rejected := 0;
        RETURN;
    END IF;

    PERFORM smt.create_stage();
    INSERT INTO pg_temp.smt_stage SELECT s.*, NULL FROM smt._stage(data, lenient_esiid) s;
    SELECT m.records, m.inserted, m.replaced, m.stale, m.identical, m.conflicts, m.rejected
      INTO records, inserted, replaced, stale, identical, conflicts, rejected
      FROM smt.merge_stage(file_id) m;
END
$$;
COMMENT ON FUNCTION smt.load(bytea, text, boolean) IS
'Loads one LSE or SMT interval CSV file: newer revisions replace stored days (the old version moves to smt.interval_version), older ones are kept as stale, bad records go to smt.reject, and the raw file is kept. Loading the same content twice changes nothing (already_loaded = true).';
