// trace_step: one level of a node-unique breadth-first trace. For each frontier node (element
// ids in $frontier), its lineage edges in the asked direction: edges of $out_types leaving it
// and of $in_types entering it, valid at $as_of, to nodes that existed at $as_of; at most
// $fanout + 1 per node (in neighbour-key order), so that the caller can tell a cut.
UNWIND $frontier AS id
MATCH (n) WHERE elementId(n) = id
CALL (n) {
  MATCH (n)-[r]-(m)
  WHERE ((type(r) IN $out_types AND startNode(r) = n) OR (type(r) IN $in_types AND endNode(r) = n))
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
