-- pairs_entities.sql — the entities pairs were made through, per subset (top 20 each).
SELECT s.name AS subset, e.name AS entity, count(*) AS pairs
FROM pairs p JOIN subsets s ON s.id = p.subset_id JOIN entities e ON e.id = p.entity_id
GROUP BY p.subset_id, p.entity_id ORDER BY s.id, pairs DESC LIMIT 40;
