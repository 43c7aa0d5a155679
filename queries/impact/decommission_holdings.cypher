// decommission_holdings: what a system ($system) holds at $as_of: its live copies, the series or
// studies they are copies of, and for every other system how many of those it also holds a live
// copy of (sorted by system). One row; no row when the system holds nothing.
// The copies counted are all the system's, or when $later is a list those only (those whose
// `decommission_facts` do not hold at $as_of). Params: $system, $as_of, $later.
MATCH (s:System {key: $system})
CALL (s) {
  WITH s WHERE $later IS NULL
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject)
  RETURN o
  UNION
  UNWIND coalesce($later, []) AS key
  MATCH (s)<-[:STORED_IN]-(o:ArchiveObject {key: key})
  RETURN o
}
WITH s, o
WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
  AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)
OPTIONAL MATCH (o)-[:COPY_OF]->(item)
WITH s, count(DISTINCT o) AS copies, collect(DISTINCT item) AS items
CALL (s, items) {
  UNWIND items AS item
  MATCH (item)<-[:COPY_OF]-(other:ArchiveObject)-[:STORED_IN]->(t:System)
  WHERE t <> s
    AND (other.created_at IS NULL OR other.created_at <= $as_of)
    AND (other.disposed_at IS NULL OR other.disposed_at > $as_of)
  WITH t.key AS system, count(DISTINCT item) AS held
  ORDER BY system
  RETURN collect({system: system, items: held}) AS elsewhere
}
RETURN copies, size(items) AS items, elsewhere
