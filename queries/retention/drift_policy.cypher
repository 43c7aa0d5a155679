// drift_policy: studies whose live copies are governed by different rules or dates. One row:
// `count` (such studies in all) and `studies`, the page $offset, $limit of them in key order,
// each with its copies listed by key. A copy counts for one study: its series' study, else its
// own. Params: $as_of, $policy_version, $offset, $limit.
// Read from the studies whose stored `retention_rule_count` (study_facts, kept by `retention
// apply`) says their copies have more than one rule or date: an index seek, not a scan of every
// copy. Whether a study is in the answer is read from its `live_rule_count` when that fact holds
// as of $as_of (computed under this policy, no copy of the study created or disposed after
// $as_of); other studies are decided by walking their copies. Only the page's studies are
// walked for their copies.
// (The walk, written twice below: `only_here`, a copy of a single series that is part of a
// single study, counts for that study without looking further, the common case and the cheap
// one; any other copy is tested: the lowest key among its series' studies, else its own.)
MATCH (s:Study)
WHERE s.retention_rule_count > 1
WITH s, coalesce(s.facts_policy_version = $policy_version AND s.facts_exact_from <= $as_of,
                 false) AS known
CALL (s, known) {
  WITH s, known WHERE known
  RETURN s.live_rule_count > 1 AS listed
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
    AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
    AND (only_here OR COLLECT {
           OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
           OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
           RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
         }[0] = s.key)
  RETURN count(DISTINCT [o.retention_policy_id, o.retain_until]) > 1 AS listed
}
WITH s WHERE listed
ORDER BY s.key
WITH collect(s) AS found
CALL (found) {
  UNWIND found[$offset..] AS s
  WITH s LIMIT $limit
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
    AND o.retention_status = 'computed' AND o.retention_policy_version = $policy_version
    AND (only_here OR COLLECT {
           OPTIONAL MATCH (o)-[:COPY_OF]->(:Series)-[:PART_OF]->(parent:Study)
           OPTIONAL MATCH (o)-[:COPY_OF]->(direct:Study)
           RETURN coalesce(min(parent.key), min(direct.key)) AS counted_for
         }[0] = s.key)
  WITH s, o ORDER BY s.key, o.key
  WITH s, collect({key: o.key, rule: o.retention_policy_id, retain_until: o.retain_until})
    AS copies
  ORDER BY s.key
  RETURN collect({key: s.key, copies: copies}) AS studies
}
RETURN size(found) AS count, studies
