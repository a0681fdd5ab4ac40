-- crawl_hosts.sql — the hosts with the most failed or retrying samples (where a crawl loses most).
SELECT substr(url, instr(url, '//') + 2, instr(substr(url, instr(url, '//') + 2) || '/', '/') - 1) AS host,
       count(*) AS not_ok, group_concat(DISTINCT reason) AS reasons
FROM samples WHERE state IN ('failed', 'retry')
GROUP BY host ORDER BY not_ok DESC LIMIT 20;
