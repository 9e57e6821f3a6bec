-- ESIIDs: smt.esiid_normalize, smt.esiid_valid, smt.esiid_tdsp and the smt.esiid domain.
-- An ESIID (Electric Service Identifier) names a Texas meter point: 17 digits, or 22 for
-- CenterPoint. SMT files write it behind an Excel apostrophe ('10443720000000001).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS smt CASCADE;
RESET client_min_messages;
CREATE EXTENSION smt;

-- esiid_normalize strips what spreadsheets wrap an ESIID in: surrounding whitespace, the leading
-- apostrophe and spaces inside. It checks nothing (see esiid_valid).
SELECT quote_literal(raw) AS raw, smt.esiid_normalize(raw) AS normalized
  FROM (VALUES (1, '10443720000000001'),
               (2, '''10443720000000001'),
               (3, '  ''1044 3720 0000 00001 '),
               (4, ' ''1008901821621815827179'),
               (5, 'not an esiid')) AS v(n, raw)
 ORDER BY n;

-- esiid_valid, strict (the default): after normalizing, 17 or 22 digits and nothing else.
-- lenient => true is the LSE spec's rule: 1 to 64 ASCII letters or digits.
SELECT quote_literal(raw) AS raw,
       smt.esiid_valid(raw) AS strict,
       smt.esiid_valid(raw, lenient => true) AS lenient
  FROM (VALUES ('10443720000000001'),          -- 17 digits
               ('1008901821621815827179'),     -- 22 digits
               ('''10443720000000001'),        -- apostrophe-guarded: valid once normalized
               ('1044372000000001'),           -- 16 digits
               ('104437200000000012'),         -- 18 digits
               ('100000000000000'),            -- 15 digits: the LSE spec's own example
               ('ESI123'),                     -- letters
               ('1044-3720-0000-00001'),       -- punctuation
               ('')) AS v(raw)
 ORDER BY 1;
SELECT smt.esiid_valid(repeat('1', 64), lenient => true) AS lenient_64_chars,
       smt.esiid_valid(repeat('1', 65), lenient => true) AS lenient_65_chars;

-- All three functions are strict: NULL in, NULL out.
SELECT smt.esiid_valid(NULL) IS NULL AS valid_null,
       smt.esiid_normalize(NULL) IS NULL AS normalize_null,
       smt.esiid_tdsp(NULL) IS NULL AS tdsp_null;

-- esiid_tdsp names the wires company from the prefix; the length is part of the match
-- (CenterPoint ESIIDs have 22 digits, the others 17). Unknown prefix: NULL, yet still valid.
SELECT esiid, smt.esiid_tdsp(esiid) AS tdsp, smt.esiid_valid(esiid) AS valid
  FROM (VALUES ('1008901821621815827179'),
               ('10443720000000001'),
               ('10176990000000001'),
               ('10032789000000001'),
               ('10204049000000001'),
               ('10400511000000001'),
               ('''10443720000000001'),
               ('10089010000000001'),          -- CenterPoint prefix, but 17 digits
               ('19999999999999999')) AS v(esiid)
 ORDER BY 1;

-- The domain smt.esiid holds only normalized, strictly valid ESIIDs (NULL is allowed).
SELECT '10443720000000001'::smt.esiid AS oncor,
       '1008901821621815827179'::smt.esiid AS centerpoint,
       smt.esiid_normalize(' ''1044 3720 0000 00001')::smt.esiid AS normalized_first,
       NULL::smt.esiid IS NULL AS null_allowed;
SELECT '''10443720000000001'::smt.esiid;    -- not normalized
SELECT '1044372000000001'::smt.esiid;       -- 16 digits
SELECT '100000000000000'::smt.esiid;        -- lenient-only
SELECT ''::smt.esiid;

-- As a column type it guards a user's own tables.
CREATE TEMP TABLE meter (esiid smt.esiid PRIMARY KEY, note text);
INSERT INTO meter VALUES ('10443720000000001', 'ok');
INSERT INTO meter VALUES ('10443720000000001 ', 'trailing space');
SELECT * FROM meter ORDER BY esiid;
