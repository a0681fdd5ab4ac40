-- pairs_stats.sql — per subset: pairs, members with partners, partners per member, distinct partners,
-- and how often a partner is drawn (max), so a skewed pairing shows.
SELECT s.name AS subset, count(p.sample_id) AS pairs,
       count(DISTINCT p.sample_id) AS members_paired, s.members,
       printf('%.2f', 1.0 * count(p.sample_id) / max(s.members, 1)) AS per_member,
       count(DISTINCT p.partner_id) AS distinct_partners,
       (SELECT max(c) FROM (SELECT count(*) AS c FROM pairs q WHERE q.subset_id = s.id GROUP BY q.partner_id)) AS max_draws_of_one
FROM subsets s LEFT JOIN pairs p ON p.subset_id = s.id GROUP BY s.id ORDER BY s.id;
