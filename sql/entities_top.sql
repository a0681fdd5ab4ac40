-- entities_top.sql — the 30 entities in most samples; cumulative = share of processed samples that
-- contain at least one entity of rank <= this one (what a top-K subset would keep).
WITH ranked AS (
  SELECT id, name, samples, occurrences, row_number() OVER (ORDER BY samples DESC, name) AS rk
  FROM entities WHERE samples > 0),
first AS (
  SELECT min(r.rk) AS rk FROM sample_entities se JOIN ranked r ON r.id = se.entity_id GROUP BY se.sample_id),
per_rank AS (SELECT rk, count(*) AS n FROM first GROUP BY rk)
SELECT r.rk AS rank, r.name, r.samples, r.occurrences,
       printf('%.1f%%', 100.0 * (SELECT sum(n) FROM per_rank p WHERE p.rk <= r.rk)
              / (SELECT max(count(*), 1) FROM samples WHERE entities_version IS NOT NULL)) AS cumulative
FROM ranked r WHERE r.rk <= 30 ORDER BY r.rk;
