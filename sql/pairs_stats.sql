-- pairs_stats.sql — per subset: pairs, members with partners, partners per member, members
-- with all N partners. (How often one partner is drawn, for skew, is a heavier query:
--   SELECT partner_id, count(*) FROM pairs WHERE subset_id = 1 GROUP BY 1 ORDER BY 2 DESC LIMIT 10)
SELECT s.name AS subset, coalesce(p.pairs, 0) AS pairs, coalesce(p.paired, 0) AS members_paired, s.members,
       printf('%.2f', 1.0 * coalesce(p.pairs, 0) / max(s.members, 1)) AS per_member, p.max_k + 1 AS partners_max
FROM subsets s
LEFT JOIN (SELECT subset_id, count(*) AS pairs, sum(k = 0) AS paired, max(k) AS max_k FROM pairs GROUP BY subset_id) p
  ON p.subset_id = s.id
ORDER BY s.id;
