// residency_violations: live copies held in a country that the origin jurisdiction of their
// study does not allow (and no transfer mechanism adds). One row: `count` (such copies in all)
// and `copies`, the page $offset, $limit of them by study, then key. A copy counts for one
// study: its series' study, else its own. Params: $as_of, $policy_version, $allowed (map:
// origin jurisdiction -> allowed country codes, '*' for anywhere), $offset, $limit.
// Read from the studies whose stored `foreign_country_count` (kept by `retention apply` from
// study_facts and the policy) says a copy is somewhere its origin does not allow: an index
// seek, not a scan of every copy. How many of a study's copies are in the answer is read from
// its `live_foreign_copies` when that fact holds as of $as_of (computed under this policy, no
// copy of the study created or disposed after $as_of); other studies are counted from their
// copies. The page walks the studies in key order until it has its copies.
// (The walk, written twice below: `only_here`, a copy of a single series that is part of a
// single study, counts for that study without looking further, the common case and the cheap
// one; any other copy is tested: the lowest key among its series' studies, else its own.)
MATCH (study:Study)
WHERE study.foreign_country_count > 0
  AND study.origin_jurisdiction IS NOT NULL
  AND $allowed[study.origin_jurisdiction] IS NOT NULL
  AND NOT '*' IN $allowed[study.origin_jurisdiction]
WITH study,
     coalesce(study.facts_policy_version = $policy_version
              AND study.facts_exact_from <= $as_of, false) AS known
CALL (study, known) {
  WITH study, known WHERE known
  RETURN study.live_foreign_copies AS violations
  UNION ALL
  WITH study, known WHERE NOT known
  CALL (study) {
    MATCH (o:ArchiveObject)-[:COPY_OF]->(study) RETURN o, false AS only_here
    UNION
    MATCH (series:Series)-[:PART_OF]->(study)
    WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
    MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
    RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
  }
  WITH study, o, only_here
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
    AND o.country IS NOT NULL
    AND NOT o.country IN $allowed[study.origin_jurisdiction]
    AND (only_here OR COLLECT {
           OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
           OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
           RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
         }[0] = study.key)
  RETURN count(o) AS violations
}
WITH study, violations WHERE violations > 0
ORDER BY study.key
WITH collect(study) AS found, sum(violations) AS violations
CALL (found) {
  UNWIND found AS study
  CALL (study) {
    CALL (study) {
      MATCH (o:ArchiveObject)-[:COPY_OF]->(study) RETURN o, false AS only_here
      UNION
      MATCH (series:Series)-[:PART_OF]->(study)
      WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
      MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
      RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
    }
    WITH study, o, only_here
    WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
      AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
      AND o.country IS NOT NULL
      AND NOT o.country IN $allowed[study.origin_jurisdiction]
      AND (only_here OR COLLECT {
             OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
             OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
             RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
           }[0] = study.key)
    RETURN o ORDER BY o.key
  }
  WITH study, o SKIP $offset LIMIT $limit
  CALL (o) {
    OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
    WITH o, min(sys.region_code) AS system_region
    RETURN coalesce(o.region_code, system_region) AS region
  }
  RETURN collect({key: o.key, study: study.key, origin: study.origin_jurisdiction,
                  country: o.country, region: region}) AS copies
}
RETURN violations AS count, copies
