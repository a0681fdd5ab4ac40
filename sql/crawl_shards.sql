-- crawl_shards.sql — the raw shards of `ovseg fetch`: count, samples, sizes, and the last few.
SELECT count(*) AS shards, sum(samples) AS samples, printf('%.1f MB', sum(bytes) / 1e6) AS bytes,
       printf('%.1f KB', 1.0 * sum(bytes) / max(sum(samples), 1) / 1e3) AS per_sample
FROM shards WHERE kind = 'raw';
SELECT path, samples, printf('%.1f MB', bytes / 1e6) AS bytes, created_at, stats
FROM shards WHERE kind = 'raw' ORDER BY id DESC LIMIT 5;
