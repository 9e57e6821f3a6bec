-- Everything a DBA could see of the smt extension's schema, one line per fact, sorted: relations,
-- columns, constraints, indexes, triggers, views, functions, types, grants, comments, extension
-- membership and what pg_dump registers. Two databases with the same lines have the same schema.
-- Object ids, and the order GRANTs were given in, are left out: they differ between a fresh
-- install and an upgrade without the schema differing.
WITH smt AS (
    SELECT n.oid AS nsp FROM pg_namespace n WHERE n.nspname = 'smt'
), ext AS (
    SELECT e.oid, e.extconfig, e.extcondition FROM pg_extension e WHERE e.extname = 'smt'
), member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.*, format('%I', c.relname) AS name FROM pg_class c, smt WHERE c.relnamespace = smt.nsp
)
SELECT line FROM (
    SELECT format('schema smt owner=%s acl=%s comment=%s', pg_get_userbyid(n.nspowner),
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a),
                  obj_description(n.oid, 'pg_namespace')) AS line
      FROM pg_namespace n, smt WHERE n.oid = smt.nsp
    UNION ALL
    SELECT format('relation %s kind=%s persistence=%s options=%s owner=%s partition=%s bound=%s member=%s acl=%s comment=%s',
                  r.name, r.relkind, r.relpersistence, r.reloptions, pg_get_userbyid(r.relowner), r.relispartition,
                  pg_get_expr(r.relpartbound, r.oid),
                  EXISTS (SELECT FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = r.oid),
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(r.relacl) a),
                  obj_description(r.oid, 'pg_class'))
      FROM rel r WHERE r.relkind <> 't'
    UNION ALL
    SELECT format('column %s.%s type=%s notnull=%s default=%s identity=%s generated=%s collation=%s acl=%s comment=%s',
                  r.name, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  (SELECT co.collname FROM pg_collation co WHERE co.oid = a.attcollation AND a.attcollation <> 100),
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x),
                  col_description(r.oid, a.attnum))
      FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE r.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
    UNION ALL
    SELECT format('column position %s.%s = %s', r.name, a.attname,
                  (SELECT count(*) FROM pg_attribute b WHERE b.attrelid = r.oid AND b.attnum > 0
                       AND NOT b.attisdropped AND b.attnum <= a.attnum))
      FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE r.relkind IN ('v', 'c')
    UNION ALL
    SELECT format('constraint %s on %s: %s comment=%s', co.conname,
                  coalesce((SELECT r.name FROM rel r WHERE r.oid = co.conrelid), format_type(co.contypid, NULL)),
                  pg_get_constraintdef(co.oid), obj_description(co.oid, 'pg_constraint'))
      FROM pg_constraint co, smt WHERE co.connamespace = smt.nsp
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN rel r ON r.oid = i.indrelid
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
      FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('view %s: %s', r.name, pg_get_viewdef(r.oid))
      FROM rel r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
                  r.name, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                  s.seqcache, s.seqcycle)
      FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
    UNION ALL
    SELECT format('function %s returns %s kind=%s definer=%s volatility=%s parallel=%s strict=%s leakproof=%s config=%s language=%s body=%s bin=%s member=%s acl=%s comment=%s',
                  p.oid::regprocedure, pg_get_function_result(p.oid), p.prokind, p.prosecdef, p.provolatile,
                  p.proparallel, p.proisstrict, p.proleakproof, p.proconfig, l.lanname,
                  md5(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)), p.probin,
                  EXISTS (SELECT FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid),
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a),
                  obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang, smt WHERE p.pronamespace = smt.nsp
    UNION ALL
    SELECT format('function %s argument defaults=%s', p.oid::regprocedure, pg_get_expr(p.proargdefaults, 0))
      FROM pg_proc p, smt WHERE p.pronamespace = smt.nsp AND p.proargdefaults IS NOT NULL
    UNION ALL
    SELECT format('type %s kind=%s base=%s notnull=%s default=%s member=%s acl=%s comment=%s',
                  format_type(t.oid, NULL), t.typtype,
                  CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END,
                  t.typnotnull, t.typdefault,
                  EXISTS (SELECT FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = t.oid),
                  (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(t.typacl) a),
                  obj_description(t.oid, 'pg_type'))
      FROM pg_type t, smt
     WHERE t.typnamespace = smt.nsp AND t.typtype IN ('c', 'd', 'e', 'r')
       AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
    UNION ALL
    SELECT format('enum %s: %s', format_type(e.enumtypid, NULL), string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
      FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid, smt WHERE t.typnamespace = smt.nsp
     GROUP BY e.enumtypid
    UNION ALL
    SELECT format('pg_dump writes %s where %s', c.oid::regclass, nullif(ext.extcondition[i], ''))
      FROM ext, generate_subscripts(ext.extconfig, 1) i JOIN pg_class c ON true
     WHERE c.oid = ext.extconfig[i]
    UNION ALL
    SELECT format('member %s', pg_describe_object(m.classid, m.objid, 0))
      FROM member m
    UNION ALL
    SELECT format('role %s login=%s super=%s inherit=%s member of=%s', r.rolname, r.rolcanlogin, r.rolsuper, r.rolinherit,
                  (SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members am
                     JOIN pg_roles g ON g.oid = am.roleid WHERE am.member = r.oid))
      FROM pg_roles r WHERE r.rolname IN ('smt_reader', 'smt_loader', 'smt_admin')
) facts
ORDER BY line;
