// trace_hub_step: the trace step from systems reached mid-trace (element ids in $frontier):
// only their FEEDS edges, leaving them when $feeds_out, entering them when $feeds_in. The type
// is written here, not passed: a system holds every copy stored in it, and a literal type lets
// Neo4j read only the FEEDS chain of such a dense node. Same validity rules and fan-out probe
// as trace_step.
UNWIND $frontier AS id
MATCH (n) WHERE elementId(n) = id
CALL (n) {
  MATCH (n)-[r:FEEDS]-(m)
  WHERE ((startNode(r) = n AND $feeds_out) OR (endNode(r) = n AND $feeds_in))
    AND (r.valid_from IS NULL OR r.valid_from <= $as_of)
    AND (r.valid_to IS NULL OR r.valid_to > $as_of)
    AND (m.created_at IS NULL OR m.created_at <= $as_of)
    AND (m.disposed_at IS NULL OR m.disposed_at > $as_of)
  RETURN r, m ORDER BY m.key, type(r), startNode(r).key
  LIMIT $fanout_probe
}
RETURN n.key AS from_key, startNode(r).key AS src, type(r) AS type, endNode(r).key AS dst,
       properties(r) AS edge, elementId(m) AS id, m.key AS key, labels(m)[0] AS kind,
       properties(m) AS properties
ORDER BY from_key, key, type, src
