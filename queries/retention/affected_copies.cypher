// affected_copies: the copies whose retention may change when the nodes given changed: the
// copies given; every copy of every study of a patient touched directly or through a study,
// series or copy (a new encounter moves the clock of all of them, and a study's origin depends
// on all its copies); the other copies of what a copy given is a copy of, and the copies of the
// series given, even with no study (their holding facts name each other); and the copies of
// the systems given. Stored copies only, by key.
// Params: $copies, $series, $studies, $patients, $systems (the changed keys, by kind).
// Each step collects into one row (no UNION over rows that carry the lists: its DISTINCT
// would hash the lists with every row).
CALL () {
  CALL () {
    UNWIND $studies AS key MATCH (s:Study {key: key}) RETURN s
    UNION
    UNWIND $series AS key MATCH (:Series {key: key})-[:PART_OF]->(s:Study) RETURN s
    UNION
    UNWIND $copies AS key MATCH (:ArchiveObject {key: key})-[:COPY_OF]->(s:Study) RETURN s
    UNION
    UNWIND $copies AS key
    MATCH (:ArchiveObject {key: key})-[:COPY_OF]->(:Series)-[:PART_OF]->(s:Study) RETURN s
  }
  RETURN collect(s) AS touched
}
CALL (touched) {
  UNWIND touched AS s MATCH (s)-[:OF_PATIENT]->(p:Patient) RETURN collect(DISTINCT p) AS linked
}
CALL () {
  UNWIND $patients AS key MATCH (p:Patient {key: key}) RETURN collect(p) AS given
}
CALL (linked, given) {
  UNWIND linked + given AS p MATCH (p)<-[:OF_PATIENT]-(s:Study)
  RETURN collect(DISTINCT s) AS of_patients
}
WITH touched + of_patients AS studies
CALL (studies) {
  UNWIND studies AS s MATCH (o:ArchiveObject)-[:COPY_OF]->(s) RETURN collect(o.key) AS direct
}
CALL (studies) {
  UNWIND studies AS s MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series)-[:PART_OF]->(s)
  RETURN collect(o.key) AS via_series
}
CALL () {
  UNWIND $copies AS key MATCH (o:ArchiveObject {key: key}) RETURN collect(o.key) AS given_copies
}
CALL () {
  UNWIND $copies AS key
  MATCH (:ArchiveObject {key: key})-[:COPY_OF]->()<-[:COPY_OF]-(o:ArchiveObject)
  RETURN collect(DISTINCT o.key) AS siblings
}
CALL () {
  UNWIND $series AS key MATCH (o:ArchiveObject)-[:COPY_OF]->(:Series {key: key})
  RETURN collect(o.key) AS of_series
}
CALL () {
  UNWIND $systems AS key MATCH (o:ArchiveObject)-[:STORED_IN]->(:System {key: key})
  RETURN collect(o.key) AS in_systems
}
UNWIND direct + via_series + given_copies + siblings + of_series + in_systems AS key
RETURN DISTINCT key
ORDER BY key
