-- entities_summary.sql — extraction progress: samples processed (by rules version), with entities.
SELECT coalesce(entities_version, '(not yet)') AS rules_version, count(*) AS samples,
       sum(EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = s.id)) AS with_entities
FROM samples s GROUP BY entities_version ORDER BY samples DESC;
