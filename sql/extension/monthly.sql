-- Monthly billed usage: one row per ESIID and billing period (start and end date, the period's
-- actual kWh, metered and billed kW and kVA where the TDSP gives them), from SMT's monthly usage
-- CSV, loaded by smt.load with the rule of the other reports: a newer revision of a period
-- replaces the stored one, an older one changes nothing, and every version received is kept
-- (smt.monthly_usage_version). A period is known by its ESIID and start date; its end date is
-- one of its values (a revised period may end on another day).
--
-- For equal revisions, the same values are an identical repeat, and different values are a
-- conflict won, whatever the order they arrive in, by the larger actual kWh (then the later end
-- date, then metered kW, billed kW, metered kVA, billed kVA). Periods are few (one row per meter a
-- month), so their merges take one lock of their own and run one at a time.

CREATE TABLE smt.monthly_usage (
    esiid       text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    revision    timestamptz,
    actual_kwh  numeric,
    metered_kw  numeric,
    billed_kw   numeric,
    metered_kva numeric,
    billed_kva  numeric,
    file_id     bigint NOT NULL,
    line        bigint NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (esiid, start_date)
);
COMMENT ON TABLE smt.monthly_usage IS 'The current monthly billed usage of each ESIID and billing period (from SMT''s monthly usage CSV): one row per ESIID-period, the newest revision received.';
COMMENT ON COLUMN smt.monthly_usage.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.monthly_usage.start_date IS 'First day of the billing period.';
COMMENT ON COLUMN smt.monthly_usage.end_date IS 'Last day of the billing period, as this version states it.';
COMMENT ON COLUMN smt.monthly_usage.revision IS 'When SMT made this version (REVISION_DATE); NULL when the file gave none (then it counts as older than any revision).';
COMMENT ON COLUMN smt.monthly_usage.actual_kwh IS 'The period''s actual kWh, exactly as delivered.';
COMMENT ON COLUMN smt.monthly_usage.metered_kw IS 'Metered demand (kW), where the TDSP gives it.';
COMMENT ON COLUMN smt.monthly_usage.billed_kw IS 'Billed demand (kW), where given.';
COMMENT ON COLUMN smt.monthly_usage.metered_kva IS 'Metered kVA, where given.';
COMMENT ON COLUMN smt.monthly_usage.billed_kva IS 'Billed kVA, where given.';
COMMENT ON COLUMN smt.monthly_usage.file_id IS 'The file (smt.file) this version came from.';
COMMENT ON COLUMN smt.monthly_usage.line IS 'Its line in that file.';
COMMENT ON COLUMN smt.monthly_usage.loaded_at IS 'When it became the current version.';

CREATE TABLE smt.monthly_usage_version (
    version_id         bigint GENERATED ALWAYS AS IDENTITY,
    esiid              text NOT NULL,
    start_date         date NOT NULL,
    end_date           date NOT NULL,
    revision           timestamptz,
    actual_kwh         numeric,
    metered_kw         numeric,
    billed_kw          numeric,
    metered_kva        numeric,
    billed_kva         numeric,
    file_id            bigint NOT NULL,
    line               bigint NOT NULL,
    loaded_at          timestamptz NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('replaced', 'stale', 'conflict_lost', 'superseded_in_file')),
    decided_by_file_id bigint NOT NULL,
    PRIMARY KEY (esiid, version_id)
);
CREATE INDEX monthly_usage_version_period_idx ON smt.monthly_usage_version (esiid, start_date);
COMMENT ON TABLE smt.monthly_usage_version IS 'Every monthly usage version received that is not the current one, with why: replaced by a newer one, stale on arrival, lost a same-revision conflict, or superseded within its own file.';
COMMENT ON COLUMN smt.monthly_usage_version.version_id IS 'Identifier of this version.';
COMMENT ON COLUMN smt.monthly_usage_version.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_usage_version.start_date IS 'First day of the billing period.';
COMMENT ON COLUMN smt.monthly_usage_version.end_date IS 'Last day of the period, as this version states it.';
COMMENT ON COLUMN smt.monthly_usage_version.revision IS 'Revision of this version (NULL: none given).';
COMMENT ON COLUMN smt.monthly_usage_version.actual_kwh IS 'Its actual kWh.';
COMMENT ON COLUMN smt.monthly_usage_version.metered_kw IS 'Its metered kW.';
COMMENT ON COLUMN smt.monthly_usage_version.billed_kw IS 'Its billed kW.';
COMMENT ON COLUMN smt.monthly_usage_version.metered_kva IS 'Its metered kVA.';
COMMENT ON COLUMN smt.monthly_usage_version.billed_kva IS 'Its billed kVA.';
COMMENT ON COLUMN smt.monthly_usage_version.file_id IS 'The file it came from.';
COMMENT ON COLUMN smt.monthly_usage_version.line IS 'Its line in that file.';
COMMENT ON COLUMN smt.monthly_usage_version.loaded_at IS 'When it was received (or became current, for a replaced one).';
COMMENT ON COLUMN smt.monthly_usage_version.outcome IS 'replaced (was current, a newer one came), stale (older than the current one on arrival), conflict_lost (same revision, other values, lost the tie-break), superseded_in_file (its file held a newer version of the period).';
COMMENT ON COLUMN smt.monthly_usage_version.decided_by_file_id IS 'The file whose load decided this.';

COMMENT ON FUNCTION smt._monthly_records(bigint, boolean) IS 'Monthly usage rows of a file kept in smt.file_content (SMT monthly usage CSV): one row per billing period (role record) or bad row (role reject, with its ESIID and start date when known), in file order. Internal to smt.load.';

SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage', '');
SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage_version_version_id_seq', '');

-- Merges the monthly usage of a registered file: rejects recorded, each period's best version of
-- the file decided against the stored one, losers to history, winners stored; the counts go to
-- smt.file and are returned. One statement, so every step sees the same stored rows.
CREATE FUNCTION smt._merge_monthly(file_id bigint, lenient_esiid boolean) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext('smt monthly usage'));
    WITH staged AS MATERIALIZED (
        SELECT * FROM smt._monthly_records(_merge_monthly.file_id, _merge_monthly.lenient_esiid)
    ), rejected AS (
        INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, day)
        SELECT _merge_monthly.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.start_date
          FROM staged s WHERE s.role = 'reject'
        RETURNING 1
    ), ranked AS MATERIALIZED (
        -- each period's versions in the file, best first; a later one equal to the best is a repeat
        SELECT s.*, row_number() OVER w AS rank,
               ROW(s.revision, s.end_date, s.actual_kwh, s.metered_kw, s.billed_kw, s.metered_kva, s.billed_kva)::text
                   = first_value(ROW(s.revision, s.end_date, s.actual_kwh, s.metered_kw, s.billed_kw, s.metered_kva,
                                     s.billed_kva)::text) OVER w
                   AS same_as_best
          FROM staged s WHERE s.role = 'record'
        WINDOW w AS (PARTITION BY s.esiid, s.start_date
                     ORDER BY s.revision DESC NULLS LAST, s.actual_kwh DESC NULLS LAST, s.end_date DESC,
                              s.metered_kw DESC NULLS LAST, s.billed_kw DESC NULLS LAST,
                              s.metered_kva DESC NULLS LAST, s.billed_kva DESC NULLS LAST, s.line)
    ), stored AS MATERIALIZED (
        -- the stored versions of the file's days, by an inner join: on Citus, where smt.monthly_usage
        -- is distributed, an outer join of the file's rows with it would pull the whole table to
        -- the coordinator; this sends the file's rows to the shards (tests/citus/FINDINGS.md)
        SELECT d.* FROM ranked b JOIN smt.monthly_usage d ON d.esiid = b.esiid AND d.start_date = b.start_date WHERE b.rank = 1
    ), decided AS MATERIALIZED (
        SELECT b.*,
               CASE
                   WHEN d.esiid IS NULL THEN 'insert'
                   WHEN ROW(b.revision, b.end_date, b.actual_kwh, b.metered_kw, b.billed_kw, b.metered_kva, b.billed_kva)
                        IS NOT DISTINCT FROM
                        ROW(d.revision, d.end_date, d.actual_kwh, d.metered_kw, d.billed_kw, d.metered_kva, d.billed_kva)
                       THEN 'identical'
                   WHEN coalesce(b.revision, '-infinity') > coalesce(d.revision, '-infinity') THEN 'replace'
                   WHEN coalesce(b.revision, '-infinity') < coalesce(d.revision, '-infinity') THEN 'keep'
                   WHEN (coalesce(b.actual_kwh, -1e30), b.end_date, coalesce(b.metered_kw, -1e30),
                         coalesce(b.billed_kw, -1e30), coalesce(b.metered_kva, -1e30), coalesce(b.billed_kva, -1e30))
                        > (coalesce(d.actual_kwh, -1e30), d.end_date, coalesce(d.metered_kw, -1e30),
                           coalesce(d.billed_kw, -1e30), coalesce(d.metered_kva, -1e30), coalesce(d.billed_kva, -1e30))
                       THEN 'replace_conflict'
                   WHEN (coalesce(b.actual_kwh, -1e30), b.end_date, coalesce(b.metered_kw, -1e30),
                         coalesce(b.billed_kw, -1e30), coalesce(b.metered_kva, -1e30), coalesce(b.billed_kva, -1e30))
                        = (coalesce(d.actual_kwh, -1e30), d.end_date, coalesce(d.metered_kw, -1e30),
                           coalesce(d.billed_kw, -1e30), coalesce(d.metered_kva, -1e30), coalesce(d.billed_kva, -1e30))
                       THEN 'identical'
                   ELSE 'keep_conflict'
               END AS decision
          FROM ranked b LEFT JOIN stored d ON d.esiid = b.esiid AND d.start_date = b.start_date
         WHERE b.rank = 1
    ), moved AS (
        INSERT INTO smt.monthly_usage_version (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                               metered_kva, billed_kva, file_id, line, loaded_at, outcome,
                                               decided_by_file_id)
        SELECT d.esiid, d.start_date, d.end_date, d.revision, d.actual_kwh, d.metered_kw, d.billed_kw, d.metered_kva,
               d.billed_kva, d.file_id, d.line, d.loaded_at,
               CASE x.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, _merge_monthly.file_id
          FROM decided x JOIN smt.monthly_usage d ON d.esiid = x.esiid AND d.start_date = x.start_date
         WHERE x.decision IN ('replace', 'replace_conflict')
        RETURNING 1
    ), kept AS (
        INSERT INTO smt.monthly_usage_version (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                               metered_kva, billed_kva, file_id, line, loaded_at, outcome,
                                               decided_by_file_id)
        SELECT x.esiid, x.start_date, x.end_date, x.revision, x.actual_kwh, x.metered_kw, x.billed_kw, x.metered_kva,
               x.billed_kva, _merge_monthly.file_id, x.line, now(),
               CASE x.decision WHEN 'keep' THEN 'stale' ELSE 'conflict_lost' END, _merge_monthly.file_id
          FROM decided x WHERE x.decision IN ('keep', 'keep_conflict')
        UNION ALL
        -- other versions of a period in the same file (not repeats of its best one)
        SELECT r.esiid, r.start_date, r.end_date, r.revision, r.actual_kwh, r.metered_kw, r.billed_kw, r.metered_kva,
               r.billed_kva, _merge_monthly.file_id, r.line, now(), 'superseded_in_file', _merge_monthly.file_id
          FROM ranked r
         WHERE r.rank > 1 AND NOT r.same_as_best
        RETURNING 1
    ), written AS (
        INSERT INTO smt.monthly_usage AS t (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                            metered_kva, billed_kva, file_id, line)
        SELECT x.esiid, x.start_date, x.end_date, x.revision, x.actual_kwh, x.metered_kw, x.billed_kw, x.metered_kva,
               x.billed_kva, _merge_monthly.file_id, x.line
          FROM decided x WHERE x.decision IN ('insert', 'replace', 'replace_conflict')
        ON CONFLICT (esiid, start_date) DO UPDATE
           SET end_date = excluded.end_date, revision = excluded.revision, actual_kwh = excluded.actual_kwh,
               metered_kw = excluded.metered_kw, billed_kw = excluded.billed_kw,
               metered_kva = excluded.metered_kva, billed_kva = excluded.billed_kva,
               file_id = excluded.file_id, line = excluded.line,
               loaded_at = excluded.loaded_at -- its default, now(): no function here (Citus)
        RETURNING 1
    )
    SELECT _merge_monthly.file_id, f.format, false, NULL::text,
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
     WHERE f.file_id = _merge_monthly.file_id
       -- the data-modifying steps run whether or not they are read; reading them here makes
       -- the row counts final before the result is built
       AND (SELECT count(*) FROM moved) >= 0 AND (SELECT count(*) FROM kept) >= 0
       AND (SELECT count(*) FROM written) >= 0;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_monthly.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_monthly(bigint, boolean) IS
'Merges the monthly usage of a file registered by smt.load into smt.monthly_usage with the replacement rule (losers to smt.monthly_usage_version, rejects to smt.reject); returns the counts also stored in smt.file. Internal to smt.load.';
