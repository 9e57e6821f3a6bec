-- Citus (distributed PostgreSQL): smt spread over a cluster's workers by ESIID.
--
-- On a Citus coordinator, after CREATE EXTENSION citus and CREATE EXTENSION smt (Citus runs the
-- latter on every worker too), the DBA runs SELECT * FROM smt.distribute() once. What it makes:
--   * every ESIID-keyed table (the stored days and their totals, their history, daily and monthly
--     reads and theirs, the enrolled meters) distributed by esiid and co-located, so one ESIID's
--     rows sit on one worker: a query for one meter goes to one shard, a query over all meters
--     runs on every shard at once, and a load's merge writes each shard in parallel;
--   * the raw bytes (smt.file_content) and the rejects distributed by file_id and co-located: a
--     reject's ESIID may be unreadable (NULL), and a file's bytes belong with its rejects. Their
--     keys to smt.file are dropped (a distributed table may reference only a reference table): a
--     file's row, bytes and rejects are still written in one transaction, but deleting a file's row
--     no longer deletes its bytes and rejects;
--   * everything else left on the coordinator: smt.file, the register of loaded files (one row a
--     file; its sha256 key makes a file load once), staging (smt.stage and smt.upload trust rows by
--     the loading transaction's id, which means nothing on a worker), the scheduler's jobs, runs,
--     deliveries, requests (an ESIID list each) and subscriptions. smt.file is not a reference
--     table: Citus serializes every write to a reference table on a cluster-wide lock held to
--     commit, and every load writes its file's row first, so loads would run one at a time
--     (measured: the 2.5-million-ESIID day of make bench-citus took 10 times as long as on one node).
-- The functions that write distributed tables keep to what Citus can run: no now() in an upsert's
-- DO UPDATE SET or inside CASE, no row locks across shards, no set-returning function joined to a
-- distributed table. Loads and reports are the same SQL on one node and on a cluster.

CREATE FUNCTION smt.distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, distribution text, distributed_by text, colocation_id integer)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- The ESIID-keyed tables, the first one setting the shards the others are co-located with.
    by_esiid constant text[] := ARRAY['smt.interval_day', 'smt.interval_version', 'smt.day_total',
                                      'smt.daily_read', 'smt.daily_read_version', 'smt.monthly_usage',
                                      'smt.monthly_usage_version', 'smt.meter'];
    shards integer;
    t text;
    failed text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'smt.distribute: the citus extension is not installed in database %', current_database()
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'smt.distribute spreads smt''s tables over the workers of a Citus cluster; on a single server there is nothing to do.',
                  HINT = 'On the Citus coordinator: CREATE EXTENSION citus, add the workers (citus_add_node), CREATE EXTENSION smt, then SELECT * FROM smt.distribute().';
    END IF;
    -- Run again, it changes nothing and shows the layout.
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'smt.interval_day'::regclass) THEN
        shards := coalesce(distribute.shard_count, current_setting('citus.shard_count')::integer);
        IF shards < 1 THEN
            RAISE EXCEPTION 'smt.distribute: shard_count must be positive, not %', shards
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- The tables are made by CREATE EXTENSION on every node, so Citus must not make them again:
        -- one transaction, the shards created one after another on each worker connection.
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
        -- The keys of smt.file_content and smt.reject to smt.file go, on the workers' copies too
        -- (the workers' own CREATE EXTENSION made them, and Citus would make each shard check a
        -- table it does not have).
        FOREACH t IN ARRAY ARRAY['ALTER TABLE smt.file_content DROP CONSTRAINT IF EXISTS file_content_file_id_fkey',
                                 'ALTER TABLE smt.reject DROP CONSTRAINT IF EXISTS reject_file_id_fkey'] LOOP
            EXECUTE t;
            SELECT string_agg(format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; ') INTO failed
              FROM run_command_on_workers(t) w WHERE NOT w.success;
            IF failed IS NOT NULL THEN
                RAISE EXCEPTION 'smt.distribute: % failed on a worker: %', t, failed
                    USING ERRCODE = 'connection_failure', HINT = 'Every worker must be up and have CREATE EXTENSION smt (Citus runs it there when the coordinator does).';
            END IF;
        END LOOP;
        PERFORM create_distributed_table(by_esiid[1], 'esiid', shard_count => shards, colocate_with => 'none');
        FOREACH t IN ARRAY by_esiid[2:] LOOP
            PERFORM create_distributed_table(t, 'esiid', colocate_with => by_esiid[1]);
        END LOOP;
        PERFORM create_distributed_table('smt.file_content', 'file_id', shard_count => shards, colocate_with => 'none');
        PERFORM create_distributed_table('smt.reject', 'file_id', colocate_with => 'smt.file_content');
        -- Rows loaded before were copied to the shards; the coordinator's own copies of the tables
        -- are emptied, so they take no disk (Citus no longer reads them).
        PERFORM truncate_local_data_after_distributing_table(p.logicalrelid)
           FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
          WHERE c.relnamespace = 'smt'::regnamespace AND c.relkind = 'r';
    END IF;
    -- (partitions, distributed with their table, are left out)
    RETURN QUERY
        SELECT p.logicalrelid::regclass,
               CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed' END,
               CASE p.partmethod WHEN 'n' THEN NULL ELSE column_to_column_name(p.logicalrelid, p.partkey) END,
               p.colocationid
          FROM pg_dist_partition p
          JOIN pg_class c ON c.oid = p.logicalrelid
         WHERE c.relnamespace = 'smt'::regnamespace AND NOT c.relispartition
         ORDER BY p.partmethod DESC, 3, p.logicalrelid::regclass::text;
END
$$;
COMMENT ON FUNCTION smt.distribute(integer) IS
'On a Citus coordinator: distributes smt''s ESIID-keyed tables by esiid (co-located; shard_count shards, default citus.shard_count), and smt.file_content and smt.reject by file_id (without their keys to smt.file); smt.file, staging and the scheduler''s tables stay on the coordinator. Run once after CREATE EXTENSION smt, by the extension''s owner: rows already loaded move to the workers. Run again, it changes nothing. Returns smt''s distributed tables: how, by which column, and their co-location group (the same for tables whose rows of one key sit together).';
