// cross_region_conflicts: studies with live copies in several regions whose obligations differ
// (other jurisdictions, or other retain_until dates). One row: `count` (such studies in all)
// and `studies`, the page $offset, $limit of them in key order, each with its regions and its
// copies in a known region. A copy counts for one study: its series' study, else its own.
// Params: $as_of, $policy_version, $offset, $limit.
// Read from the studies whose stored `obligation_count` (study_facts, kept by `retention
// apply`) says their copies have more than one: an index seek, not a scan of every copy.
// Whether a study is in the answer is read from its `live_conflict` when that fact holds as of
// $as_of (computed under this policy, no copy of the study created or disposed after $as_of);
// other studies are decided from their copies, as are the page's studies' rows.
// (`only_here`: a copy of a single series that is part of a single study counts for that
// study without looking further, the common case and the cheap one; any other copy is
// tested: the lowest key among its series' studies, else among its own.)
MATCH (s:Study)
WHERE s.obligation_count > 1
WITH s, coalesce(s.facts_policy_version = $policy_version AND s.facts_exact_from <= $as_of,
                 false) AS known
CALL (s, known) {
  WITH s, known WHERE known AND s.live_conflict
  RETURN null AS row
  UNION ALL
  WITH s, known WHERE NOT known
  CALL (s) {
    MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o, false AS only_here
    UNION
    MATCH (series:Series)-[:PART_OF]->(s)
    WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
    MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
    RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
  }
  WITH s, o, only_here
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
    AND (only_here OR COLLECT {
           OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
           OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
           RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
         }[0] = s.key)
  OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
  WITH s, o, coalesce(o.region_code, min(sys.region_code)) AS region
  WHERE region IS NOT NULL
  WITH s, o, region ORDER BY o.key
  WITH s, collect({key: o.key, region: region, jurisdictions: o.jurisdictions,
                   retain_until: o.retain_until}) AS copies
  WITH s, copies,
       reduce(s = [], c IN copies | CASE WHEN c.region IN s THEN s ELSE s + c.region END)
         AS regions,
       reduce(s = [], c IN copies |
         CASE WHEN [coalesce(c.jurisdictions, []), coalesce(c.retain_until, '')] IN s THEN s
              ELSE s + [[coalesce(c.jurisdictions, []), coalesce(c.retain_until, '')]] END)
         AS obligations
  WHERE size(regions) > 1 AND size(obligations) > 1
  RETURN {key: s.key, regions: COLLECT { UNWIND regions AS r RETURN r ORDER BY r },
          copies: copies} AS row
}
WITH s, row
ORDER BY s.key
WITH collect({study: s, row: row}) AS found
CALL (found) {
  UNWIND found[$offset..] AS entry
  WITH entry LIMIT $limit
  WITH entry.study AS s, entry.row AS row
  CALL (s, row) {
    WITH row WHERE row IS NOT NULL
    RETURN row AS listed
    UNION ALL
    WITH s, row WHERE row IS NULL
    CALL (s) {
      MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN o, false AS only_here
      UNION
      MATCH (series:Series)-[:PART_OF]->(s)
      WITH series, COUNT { (series)-[:PART_OF]->() } = 1 AS one_study
      MATCH (o:ArchiveObject)-[:COPY_OF]->(series)
      RETURN o, one_study AND COUNT { (o)-[:COPY_OF]->() } = 1 AS only_here
    }
    WITH s, o, only_here
    WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
      AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
      AND (only_here OR COLLECT {
             OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
             OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
             RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
           }[0] = s.key)
    OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
    WITH s, o, coalesce(o.region_code, min(sys.region_code)) AS region
    WHERE region IS NOT NULL
    WITH s, o, region ORDER BY o.key
    WITH s, collect({key: o.key, region: region, jurisdictions: o.jurisdictions,
                     retain_until: o.retain_until}) AS copies
    RETURN {key: s.key, regions: COLLECT { UNWIND copies AS c RETURN DISTINCT c.region AS r
                                            ORDER BY r },
            copies: copies} AS listed
  }
  RETURN collect(listed) AS studies
}
RETURN size(found) AS count, studies
