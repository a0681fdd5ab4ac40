-- overview.sql — one line per table: how much the pipeline holds.
SELECT 'samples' AS what, count(*) AS n FROM samples
UNION ALL SELECT 'sources', count(*) FROM sources
UNION ALL SELECT 'rejected lines', count(*) FROM rejects
UNION ALL SELECT 'shards', count(*) FROM shards
UNION ALL SELECT 'entities', count(*) FROM entities
UNION ALL SELECT 'subsets', count(*) FROM subsets
UNION ALL SELECT 'pairs', count(*) FROM pairs
UNION ALL SELECT 'runs', count(*) FROM runs;
