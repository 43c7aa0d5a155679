// study_facts: per study, what its copies add up to, stored on the study by `retention apply` so
// that whole-estate reports read only the studies that can be in their answer.
// Upper bounds, over its copies of any time and policy version (a report checks them):
// `retention_rule_count` (distinct (rule, retain_until) among its copies with computed
// retention), `obligation_count` (distinct (jurisdictions, retain_until) among its copies in a
// known region) and `countries` (distinct countries of its copies, from which apply counts those
// the study's origin does not allow).
// Exact as of now, over the live copies counted for the study (its series' study, else its
// own; disposed_at not set): `live_rule_count` (as retention_rule_count, computed under
// $policy_version), `live_region_count` and `live_obligation_count` (of its copies in a known
// region), `live_countries` (a country per copy that has one). They are what a report as of any
// moment from `exact_from` on finds (the latest creation or disposal among all its copies):
// before that, copies created or disposed since count differently, and reports walk the copies.
// Params: $studies (keys), $policy_version.
UNWIND $studies AS key
MATCH (s:Study {key: key})
WITH s, COLLECT {
       MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o
       UNION
       MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(s) RETURN o
     } AS copies
WITH s, copies, COLLECT {
       UNWIND copies AS o
       WITH o WHERE o.disposed_at IS NULL AND COLLECT {
         OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
         OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
         RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
       }[0] = s.key
       RETURN o
     } AS live
WITH s, copies, live, COLLECT {
       UNWIND live AS o
       OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
       WITH o, coalesce(o.region_code, min(sys.region_code)) AS region
       WHERE region IS NOT NULL
       RETURN {region: region, duty: [coalesce(o.jurisdictions, []), coalesce(o.retain_until, '')]}
         AS placed
     } AS placed
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
       } AS countries,
       size(COLLECT {
         UNWIND live AS o
         WITH o WHERE o.retention_status = 'computed'
           AND o.retention_policy_version = $policy_version
         RETURN DISTINCT [o.retention_policy_id, o.retain_until] AS pair
       }) AS live_rule_count,
       size(COLLECT { UNWIND placed AS p RETURN DISTINCT p.region AS region })
         AS live_region_count,
       size(COLLECT { UNWIND placed AS p RETURN DISTINCT p.duty AS duty })
         AS live_obligation_count,
       COLLECT {
         UNWIND live AS o
         WITH o WHERE o.country IS NOT NULL
         RETURN o.country AS country ORDER BY country
       } AS live_countries,
       coalesce(COLLECT {
         UNWIND copies AS o
         UNWIND [coalesce(o.created_at, ''), coalesce(o.disposed_at, '')] AS moment
         RETURN moment ORDER BY moment DESC LIMIT 1
       }[0], '') AS exact_from
ORDER BY key
