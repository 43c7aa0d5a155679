// study_facts: per study, what its copies add up to, stored on the study by `retention apply` so
// that whole-estate reports read only the studies that can be in their answer:
// `retention_rule_count` (distinct (rule, retain_until) among its copies with computed
// retention), `obligation_count` (distinct (jurisdictions, retain_until) among its copies in a
// known region) and `countries` (distinct countries of its copies, from which apply counts those
// the study's origin does not allow). Copies of any time and policy version count, so each is an
// upper bound of what a report finds as of a moment, which the reports then check exactly.
// Params: $studies (keys).
UNWIND $studies AS key
MATCH (s:Study {key: key})
WITH s, COLLECT {
       MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o
       UNION
       MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(s) RETURN o
     } AS copies
RETURN s.key AS key,
       size(COLLECT {
         UNWIND copies AS o
         WITH o WHERE o.retention_status = 'computed'
         RETURN DISTINCT [o.retention_policy_id, o.retain_until] AS pair
       }) AS retention_rule_count,
       size(COLLECT {
         UNWIND copies AS o
         OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
         WITH o, coalesce(o.region_code, min(sys.region_code)) AS region
         WHERE region IS NOT NULL
         RETURN DISTINCT [coalesce(o.jurisdictions, []), coalesce(o.retain_until, '')] AS duty
       }) AS obligation_count,
       COLLECT {
         UNWIND copies AS o
         WITH DISTINCT o.country AS country WHERE country IS NOT NULL
         RETURN country ORDER BY country
       } AS countries
ORDER BY key
