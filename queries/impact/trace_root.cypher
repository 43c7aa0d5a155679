// trace_root: the node with key $key (one index seek per label), its element id and facts.
CALL {
  MATCH (n:System {key: $key}) RETURN n
  UNION MATCH (n:Patient {key: $key}) RETURN n
  UNION MATCH (n:Study {key: $key}) RETURN n
  UNION MATCH (n:Series {key: $key}) RETURN n
  UNION MATCH (n:ArchiveObject {key: $key}) RETURN n
  UNION MATCH (n:Dataset {key: $key}) RETURN n
  UNION MATCH (n:RetentionPolicy {key: $key}) RETURN n
  UNION MATCH (n:ComplianceEvent {key: $key}) RETURN n
  UNION MATCH (n:AccessProfile {key: $key}) RETURN n
  UNION MATCH (n:Order {key: $key}) RETURN n
  UNION MATCH (n:Report {key: $key}) RETURN n
  UNION MATCH (n:Job {key: $key}) RETURN n
  UNION MATCH (n:Run {key: $key}) RETURN n
}
RETURN elementId(n) AS id, n.key AS key, labels(n)[0] AS kind, properties(n) AS properties
