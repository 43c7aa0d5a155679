// derivation_chain: every series a series was derived from, directly or not (lossy
// compression, segmentation, RT, de-identification...), with the shortest distance and the kind
// of the step that reaches it (the least, when several shortest paths do). Params: $key (a
// series key).
MATCH (start:Series {key: $key})
MATCH p = (start)-[:DERIVED_FROM*1..10]->(source:Series)
WITH source, min(length(p)) AS distance
MATCH (start:Series {key: $key})
MATCH q = (start)-[:DERIVED_FROM*1..10]->(source)
WHERE length(q) = distance
WITH source, distance, min(last(relationships(q)).kind) AS kind
RETURN source.key AS key, distance, kind
ORDER BY distance, key
