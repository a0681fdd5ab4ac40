-- entities_cooccurrence.sql — the 20 pairs of entities named together in most samples, among the
-- 50 entities in most samples.
WITH top AS MATERIALIZED (SELECT id FROM entities WHERE samples > 0 ORDER BY samples DESC, name LIMIT 50),
se AS MATERIALIZED (SELECT DISTINCT sample_id, entity_id FROM sample_entities WHERE entity_id IN top)
SELECT ea.name AS entity_a, eb.name AS entity_b, count(*) AS samples
FROM se a JOIN se b ON b.sample_id = a.sample_id AND b.entity_id > a.entity_id
JOIN entities ea ON ea.id = a.entity_id JOIN entities eb ON eb.id = b.entity_id
GROUP BY a.entity_id, b.entity_id ORDER BY samples DESC, entity_a, entity_b LIMIT 20;
