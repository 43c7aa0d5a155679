// find_nodes: nodes a person may be looking for (case-insensitive): a key containing $text
// (a node of any kind), a system, dataset or job whose name contains it, a study, order or
// report with that accession (names and accessions that are text: a list is not read); an
// exact key first, then by key (exact: the whole key, or the key without its kind:
// `pacs-north` for system:PACS-NORTH), at most $limit.
// Params: $text (lower case), $limit.
// One branch per kind and property, each keeping its own first $limit: a kind's keys are read
// from its key index (`n.key IS NOT NULL` makes it an index scan whose values come with it),
// not every node's properties from the store, and a text in millions of keys (a system's code
// is in the key of every copy it holds) is ranked within its kind before the branches are
// merged. Accessions are read from their indexes (`INDEXED` in lineage/stores/cypher.py).
// A kind added to the model needs its branch here (tests/test_search.py finds each kind).
CALL () {
  MATCH (n:System) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Patient) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Study) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Series) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:ArchiveObject) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Dataset) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:RetentionPolicy) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:ComplianceEvent) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:AccessProfile) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Order) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Report) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Job) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Run) WHERE n.key IS NOT NULL AND toLower(n.key) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:System) WHERE n.name IS :: STRING NOT NULL AND toLower(n.name) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Dataset) WHERE n.name IS :: STRING NOT NULL AND toLower(n.name) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Job) WHERE n.name IS :: STRING NOT NULL AND toLower(n.name) CONTAINS $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Study) WHERE n.accession IS :: STRING NOT NULL AND toLower(n.accession) = $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Order) WHERE n.accession IS :: STRING NOT NULL AND toLower(n.accession) = $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
  UNION
  MATCH (n:Report) WHERE n.accession IS :: STRING NOT NULL AND toLower(n.accession) = $text
  WITH n, toLower(n.key) = $text
          OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
  ORDER BY exact DESC, n.key LIMIT $limit
  RETURN n, exact
}
WITH n, exact
ORDER BY exact DESC, n.key
LIMIT $limit
RETURN n.key AS key, n.name AS name, n.accession AS accession
