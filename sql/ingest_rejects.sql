-- ingest_rejects.sql — rejected input lines by reason and source file.
SELECT s.path AS source, r.reason, count(*) AS lines
FROM rejects r JOIN sources s ON s.id = r.source_id
GROUP BY s.path, r.reason ORDER BY lines DESC;
