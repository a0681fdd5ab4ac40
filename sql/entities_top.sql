-- entities_top.sql — the 30 entities in most samples; cumulative = share of processed samples that
-- contain at least one entity of rank <= this one (what a top-K subset would keep).
WITH ranked AS MATERIALIZED (
  SELECT id, name, samples, occurrences, row_number() OVER (ORDER BY samples DESC, name) AS rk
  FROM entities WHERE samples > 0),
first AS (
  SELECT min(r.rk) AS rk FROM sample_entities se JOIN ranked r ON r.id = se.entity_id GROUP BY se.sample_id),
per_rank AS (SELECT rk, count(*) AS n FROM first WHERE rk <= 30 GROUP BY rk),
cum AS (
  SELECT r.rk, r.name, r.samples, r.occurrences, sum(coalesce(p.n, 0)) OVER (ORDER BY r.rk) AS covered
  FROM ranked r LEFT JOIN per_rank p ON p.rk = r.rk WHERE r.rk <= 30)
SELECT rk AS rank, name, samples, occurrences,
       printf('%.1f%%', 100.0 * covered / (SELECT max(count(*), 1) FROM samples WHERE entities_version IS NOT NULL)) AS cumulative
FROM cum ORDER BY rk;
