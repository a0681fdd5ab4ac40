-- entities_top.sql — the 30 entities in most samples, with cumulative caption coverage.
SELECT name, samples, occurrences,
       printf('%.1f%%', 100.0 * sum(samples) OVER (ORDER BY samples DESC, name ROWS UNBOUNDED PRECEDING)
              / (SELECT max(count(*), 1) FROM samples WHERE entities_version IS NOT NULL)) AS cumulative
FROM entities ORDER BY samples DESC, name LIMIT 30;
