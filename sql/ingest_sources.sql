-- ingest_sources.sql — every ingested file: how far it was read and what its lines became.
SELECT path, columns, coalesce(part, '-') AS part, lines_done, inserted, duplicates, rejected, other_part
FROM sources ORDER BY id;
