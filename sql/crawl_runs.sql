-- crawl_runs.sql — every fetch and merge run: when, how long, what it did (counts JSON).
SELECT id, verb, status, started_at, ended_at,
       json_extract(counts, '$.ok') AS ok, json_extract(counts, '$.done') AS done,
       json_extract(counts, '$.shards') AS shards,
       printf('%.0f', json_extract(counts, '$.ok') / max(json_extract(counts, '$.seconds'), 0.001)) AS img_per_s
FROM runs WHERE verb IN ('fetch', 'merge') ORDER BY id DESC LIMIT 20;
