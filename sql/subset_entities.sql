-- subset_entities.sql — each subset's entities: rank, members containing it, share of members,
-- pairs made through it.
SELECT s.name AS subset, x.rank, e.name AS entity, x.samples,
       printf('%.1f%%', 100.0 * x.samples / max(s.members, 1)) AS of_members, x.pairs
FROM subset_entities x JOIN subsets s ON s.id = x.subset_id JOIN entities e ON e.id = x.entity_id
ORDER BY s.id, x.rank LIMIT 200;
