-- crawl_status.sql — samples by crawl state and reason, with shares; http_4xx split by status code.
-- state: pending (not tried yet), ok (in a shard), retry (timeout, http_5xx, connect, dns: a later
-- fetch tries again while attempts <= --retries), failed (never tried again).
SELECT state,
       coalesce(reason, '-') || CASE WHEN reason = 'http_4xx' THEN ' ' || coalesce(http_status, '?') ELSE '' END AS reason,
       count(*) AS samples,
       printf('%.1f%%', 100.0 * count(*) / (SELECT max(count(*), 1) FROM samples)) AS share,
       max(attempts) AS max_attempts
FROM samples GROUP BY state, reason, CASE WHEN reason = 'http_4xx' THEN http_status END
ORDER BY samples DESC;
