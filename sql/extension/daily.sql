-- Daily meter reads: one register read per ESIID and day (start and end reading, the day's kWh),
-- from SMT's daily meter read CSV and from replies of today's API (/v2/dailyreads/), loaded by
-- smt.load like interval reports, with the same rule: a newer revision of a day replaces the
-- stored read, an older one changes nothing, and every version received is kept
-- (smt.daily_read_version).
--
-- The rule for a day read again: a later revision wins (a read without a revision counts as the
-- oldest); for equal revisions, the same values are an identical repeat, and different values are
-- a conflict won, whatever the order they arrive in, by the larger end reading (then kWh, then
-- start reading). Daily reads are few (one row per meter-day, not 96), so their merges take one
-- lock of their own and run one at a time.

CREATE TABLE smt.daily_read (
    esiid         text NOT NULL,
    day           date NOT NULL,
    revision      timestamptz,
    start_reading numeric,
    end_reading   numeric,
    usage_kwh     numeric,
    file_id       bigint NOT NULL,
    line          bigint NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (esiid, day)
);
COMMENT ON TABLE smt.daily_read IS 'The current daily meter read of each ESIID and operating day (from SMT''s daily meter read CSV or the API''s dailyreads): one row per ESIID-day, the newest revision received.';
COMMENT ON COLUMN smt.daily_read.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.daily_read.day IS 'Operating day (Central prevailing time).';
COMMENT ON COLUMN smt.daily_read.revision IS 'When SMT made this version of the read (REVISION_DATE, revisionDate); NULL when the source gave none (then it counts as older than any revision).';
COMMENT ON COLUMN smt.daily_read.start_reading IS 'Register reading at the start of the day, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.end_reading IS 'Register reading at the end of the day, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.usage_kwh IS 'The day''s kWh as SMT states it, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.file_id IS 'The file (smt.file) this read came from.';
COMMENT ON COLUMN smt.daily_read.line IS 'Its line (CSV) or entry (API reply) in that file.';
COMMENT ON COLUMN smt.daily_read.loaded_at IS 'When it became the current read.';

CREATE TABLE smt.daily_read_version (
    version_id         bigint GENERATED ALWAYS AS IDENTITY,
    esiid              text NOT NULL,
    day                date NOT NULL,
    revision           timestamptz,
    start_reading      numeric,
    end_reading        numeric,
    usage_kwh          numeric,
    file_id            bigint NOT NULL,
    line               bigint NOT NULL,
    loaded_at          timestamptz NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('replaced', 'stale', 'conflict_lost', 'superseded_in_file')),
    decided_by_file_id bigint NOT NULL,
    PRIMARY KEY (esiid, version_id)
);
CREATE INDEX daily_read_version_day_idx ON smt.daily_read_version (esiid, day);
COMMENT ON TABLE smt.daily_read_version IS 'Every daily read received that is not the current one, with why: replaced by a newer one, stale on arrival, lost a same-revision conflict, or superseded within its own file.';
COMMENT ON COLUMN smt.daily_read_version.version_id IS 'Identifier of this version.';
COMMENT ON COLUMN smt.daily_read_version.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.daily_read_version.day IS 'Operating day.';
COMMENT ON COLUMN smt.daily_read_version.revision IS 'Revision of this version (NULL: none given).';
COMMENT ON COLUMN smt.daily_read_version.start_reading IS 'Its start reading.';
COMMENT ON COLUMN smt.daily_read_version.end_reading IS 'Its end reading.';
COMMENT ON COLUMN smt.daily_read_version.usage_kwh IS 'Its kWh.';
COMMENT ON COLUMN smt.daily_read_version.file_id IS 'The file it came from.';
COMMENT ON COLUMN smt.daily_read_version.line IS 'Its line or entry in that file.';
COMMENT ON COLUMN smt.daily_read_version.loaded_at IS 'When it was received (or became current, for a replaced one).';
COMMENT ON COLUMN smt.daily_read_version.outcome IS 'replaced (was current, a newer one came), stale (older than the current one on arrival), conflict_lost (same revision, other values, lost the tie-break), superseded_in_file (its file held a newer version of the day).';
COMMENT ON COLUMN smt.daily_read_version.decided_by_file_id IS 'The file whose load decided this.';

COMMENT ON FUNCTION smt._daily_records(bigint, boolean) IS 'Daily meter reads of a file kept in smt.file_content (SMT daily meter read CSV, or a reply of the API''s dailyreads): one row per read (role record) or bad row (role reject, with its ESIID and day when known), in file order. Internal to smt.load.';

SELECT pg_catalog.pg_extension_config_dump('smt.daily_read', '');
SELECT pg_catalog.pg_extension_config_dump('smt.daily_read_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.daily_read_version_version_id_seq', '');

-- Merges the daily reads of a registered file: rejects recorded, each day's best version of the
-- file decided against the stored one, losers to history, winners stored; the counts go to
-- smt.file and are returned. One statement, so every step sees the same stored rows.
CREATE FUNCTION smt._merge_daily(file_id bigint, lenient_esiid boolean) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext('smt daily reads'));
    WITH staged AS MATERIALIZED (
        SELECT * FROM smt._daily_records(_merge_daily.file_id, _merge_daily.lenient_esiid)
    ), rejected AS (
        INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, day)
        SELECT _merge_daily.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.day
          FROM staged s WHERE s.role = 'reject'
        RETURNING 1
    ), ranked AS MATERIALIZED (
        -- each day's versions in the file, best first; a later one equal to the best is a repeat
        SELECT s.*, row_number() OVER w AS rank,
               ROW(s.revision, s.start_reading, s.end_reading, s.usage_kwh)::text
                   = first_value(ROW(s.revision, s.start_reading, s.end_reading, s.usage_kwh)::text) OVER w
                   AS same_as_best
          FROM staged s WHERE s.role = 'record'
        WINDOW w AS (PARTITION BY s.esiid, s.day
                     ORDER BY s.revision DESC NULLS LAST, s.end_reading DESC NULLS LAST,
                              s.usage_kwh DESC NULLS LAST, s.start_reading DESC NULLS LAST, s.line)
    ), stored AS MATERIALIZED (
        -- the stored versions of the file's days, by an inner join: on Citus, where smt.daily_read
        -- is distributed, an outer join of the file's rows with it would pull the whole table to
        -- the coordinator; this sends the file's rows to the shards (tests/citus/FINDINGS.md)
        SELECT d.* FROM ranked b JOIN smt.daily_read d ON d.esiid = b.esiid AND d.day = b.day WHERE b.rank = 1
    ), decided AS MATERIALIZED (
        SELECT b.*, d.revision AS stored_revision,
               CASE
                   WHEN d.esiid IS NULL THEN 'insert'
                   WHEN ROW(b.revision, b.start_reading, b.end_reading, b.usage_kwh)
                        IS NOT DISTINCT FROM ROW(d.revision, d.start_reading, d.end_reading, d.usage_kwh) THEN 'identical'
                   WHEN coalesce(b.revision, '-infinity') > coalesce(d.revision, '-infinity') THEN 'replace'
                   WHEN coalesce(b.revision, '-infinity') < coalesce(d.revision, '-infinity') THEN 'keep'
                   WHEN ARRAY[b.end_reading, b.usage_kwh, b.start_reading]::text[]
                        IS NOT DISTINCT FROM ARRAY[d.end_reading, d.usage_kwh, d.start_reading]::text[] THEN 'identical'
                   WHEN (coalesce(b.end_reading, -1e30), coalesce(b.usage_kwh, -1e30), coalesce(b.start_reading, -1e30))
                        > (coalesce(d.end_reading, -1e30), coalesce(d.usage_kwh, -1e30), coalesce(d.start_reading, -1e30))
                       THEN 'replace_conflict'
                   ELSE 'keep_conflict'
               END AS decision
          FROM ranked b LEFT JOIN stored d ON d.esiid = b.esiid AND d.day = b.day
         WHERE b.rank = 1
    ), moved AS (
        INSERT INTO smt.daily_read_version (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id,
                                            line, loaded_at, outcome, decided_by_file_id)
        SELECT d.esiid, d.day, d.revision, d.start_reading, d.end_reading, d.usage_kwh, d.file_id, d.line,
               d.loaded_at, CASE x.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END,
               _merge_daily.file_id
          FROM decided x JOIN smt.daily_read d ON d.esiid = x.esiid AND d.day = x.day
         WHERE x.decision IN ('replace', 'replace_conflict')
        RETURNING 1
    ), kept AS (
        INSERT INTO smt.daily_read_version (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id,
                                            line, loaded_at, outcome, decided_by_file_id)
        SELECT x.esiid, x.day, x.revision, x.start_reading, x.end_reading, x.usage_kwh, _merge_daily.file_id,
               x.line, now(), CASE x.decision WHEN 'keep' THEN 'stale' ELSE 'conflict_lost' END, _merge_daily.file_id
          FROM decided x WHERE x.decision IN ('keep', 'keep_conflict')
        UNION ALL
        -- other versions of a day in the same file (not repeats of its best one)
        SELECT r.esiid, r.day, r.revision, r.start_reading, r.end_reading, r.usage_kwh, _merge_daily.file_id,
               r.line, now(), 'superseded_in_file', _merge_daily.file_id
          FROM ranked r
         WHERE r.rank > 1 AND NOT r.same_as_best
        RETURNING 1
    ), written AS (
        INSERT INTO smt.daily_read AS t (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id, line)
        SELECT x.esiid, x.day, x.revision, x.start_reading, x.end_reading, x.usage_kwh, _merge_daily.file_id, x.line
          FROM decided x WHERE x.decision IN ('insert', 'replace', 'replace_conflict')
        ON CONFLICT (esiid, day) DO UPDATE
           SET revision = excluded.revision, start_reading = excluded.start_reading,
               end_reading = excluded.end_reading, usage_kwh = excluded.usage_kwh,
               file_id = excluded.file_id, line = excluded.line,
               loaded_at = excluded.loaded_at -- its default, now(): no function here (Citus)
        RETURNING 1
    )
    SELECT _merge_daily.file_id, f.format, false, NULL::text,
           (SELECT count(*) FROM ranked)::integer,
           (SELECT count(*) FROM decided WHERE decision = 'insert')::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace', 'replace_conflict'))::integer,
           ((SELECT count(*) FROM decided WHERE decision IN ('keep', 'keep_conflict'))
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND NOT r.same_as_best))::integer,
           ((SELECT count(*) FROM decided WHERE decision = 'identical')
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND r.same_as_best))::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace_conflict', 'keep_conflict'))::integer,
           (SELECT count(*) FROM rejected)::integer
      INTO result
      FROM smt.file f
     WHERE f.file_id = _merge_daily.file_id
       -- the data-modifying steps run whether or not they are read; reading them here makes
       -- the row counts final before the result is built
       AND (SELECT count(*) FROM moved) >= 0 AND (SELECT count(*) FROM kept) >= 0
       AND (SELECT count(*) FROM written) >= 0;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_daily.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_daily(bigint, boolean) IS
'Merges the daily meter reads of a file registered by smt.load into smt.daily_read with the replacement rule (losers to smt.daily_read_version, rejects to smt.reject); returns the counts also stored in smt.file. Internal to smt.load.';
