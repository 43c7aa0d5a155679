// decommission_downstream: what depends on system $system at $as_of: systems it FEEDS, systems
// holding copies made from its copies (COPIED_FROM), datasets including its copies.
MATCH (s:System {key: $system})
CALL (s) {
  MATCH (s)-[f:FEEDS]->(t:System)
  WHERE (f.valid_from IS NULL OR f.valid_from <= $as_of)
    AND (f.valid_to IS NULL OR f.valid_to > $as_of)
  RETURN t.key AS key, 'feeds' AS via
  UNION
  MATCH (s)<-[:STORED_IN]-(:ArchiveObject)<-[:COPIED_FROM]-(c:ArchiveObject)-[:STORED_IN]->(t:System)
  WHERE t <> s AND (c.created_at IS NULL OR c.created_at <= $as_of)
    AND (c.disposed_at IS NULL OR c.disposed_at > $as_of)
  RETURN t.key AS key, 'copied_from' AS via
  UNION
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)<-[:INCLUDES]-(d:Dataset)
  WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
    AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
  RETURN d.key AS key, 'includes' AS via
}
WITH key, via ORDER BY via
RETURN key, collect(via) AS via
ORDER BY key
