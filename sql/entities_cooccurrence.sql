-- entities_cooccurrence.sql — the 20 pairs of entities named together in most samples.
SELECT ea.name AS entity_a, eb.name AS entity_b, count(*) AS samples
FROM (SELECT DISTINCT a.sample_id, a.entity_id AS ea, b.entity_id AS eb
      FROM sample_entities a JOIN sample_entities b ON b.sample_id = a.sample_id AND b.entity_id > a.entity_id) p
JOIN entities ea ON ea.id = p.ea JOIN entities eb ON eb.id = p.eb
GROUP BY p.ea, p.eb ORDER BY samples DESC, entity_a, entity_b LIMIT 20;
