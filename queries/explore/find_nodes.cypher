// find_nodes: nodes a person may be looking for: a key containing $text, a study or order with
// that accession, a system by code, a dataset by name (case-insensitive); an exact key first,
// then by key (exact: the whole key, or the key without its kind: `pacs-north` for
// system:PACS-NORTH), at most $limit. Params: $text (lower case), $limit.
MATCH (n)
WHERE toLower(n.key) CONTAINS $text
   OR toLower(toString(coalesce(n.accession, ''))) = $text
   OR toLower(toString(coalesce(n.name, ''))) CONTAINS $text
WITH n, toLower(n.key) = $text
        OR toLower(substring(n.key, size(split(n.key, ':')[0]) + 1)) = $text AS exact
ORDER BY exact DESC, n.key
LIMIT $limit
RETURN n.key AS key, n.name AS name, n.accession AS accession
