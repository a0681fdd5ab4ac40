-- crawl_status.sql — samples by crawl state and reason, with shares.
SELECT state, coalesce(reason, '-') AS reason, count(*) AS samples,
       printf('%.1f%%', 100.0 * count(*) / (SELECT max(count(*), 1) FROM samples)) AS share
FROM samples GROUP BY state, reason ORDER BY samples DESC;
