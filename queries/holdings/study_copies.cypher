// study_copies: the live copies a system ($system) holds of a study ($study): copies of its
// series, and copies of the whole study. Sorted by key.
MATCH (:System {key: $system})<-[:STORED_IN]-(o:ArchiveObject)-[:COPY_OF]->(item)
WHERE o.disposed_at IS NULL AND o.rejected_at IS NULL
  AND (item.key = $study OR (item)-[:PART_OF]->(:Study {key: $study}))
RETURN DISTINCT o.key AS key
ORDER BY key
