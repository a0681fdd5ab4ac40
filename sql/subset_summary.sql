-- subset_summary.sql — each subset: members and share of all samples.
SELECT name, members, printf('%.1f%%', 100.0 * members / (SELECT max(count(*), 1) FROM samples)) AS share,
       created_at
FROM subsets ORDER BY id;
