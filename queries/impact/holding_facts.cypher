// holding_facts: what a decommission reads of each of the copies $keys without walking the
// system's copies (written on the copy by `retention apply` and the recompute after an ingest;
// `decommission_facts` reads them from one index). Keys of no stored copy are left out.
// Rows: key;
// system: the system it is stored in ('' none, '*' several);
// item: the series or study it is a copy of ('' none, '*' several);
// exact_from: the latest creation or disposal among it and the other copies of its item: the
//   facts describe any moment from then on ('' when none is known);
// others: '-' when it is disposed; else the other systems holding a copy of its item that is
//   not disposed, sorted and tab-separated ('' none);
// gap: whether a reason of `decommission_gaps` other than "no recorded source" holds (a copy of
//   nothing known, an unresolved copy, item or study, a de-identified item with no
//   DERIVED_FROM): the copies a decommission tests for gaps;
// tier, bytes, created_at, disposed_at: its storage tier ('' none), size (0 unknown) and own
//   creation and disposal ('' none), which the explorer's estate sums per system at any moment
//   (`estate_facts`).
UNWIND $keys AS wanted
MATCH (o:ArchiveObject {key: wanted})
WITH DISTINCT o
CALL (o) {
  OPTIONAL MATCH (o)-[:STORED_IN]->(sys:System)
  RETURN collect(DISTINCT sys.key) AS systems
}
CALL (o) {
  OPTIONAL MATCH (o)-[:COPY_OF]->(item)
  RETURN collect(DISTINCT item) AS items
}
CALL (o, items) {
  UNWIND items AS item
  MATCH (item)<-[:COPY_OF]-(copy:ArchiveObject)
  OPTIONAL MATCH (copy)-[:STORED_IN]->(holder:System)
  RETURN collect(DISTINCT CASE WHEN copy.disposed_at IS NULL THEN holder.key END) AS holders,
         max(coalesce(copy.created_at, '')) AS created, max(coalesce(copy.disposed_at, ''))
           AS disposed
}
WITH o, systems, items, holders,
     [moment IN [created, disposed, coalesce(o.created_at, ''), coalesce(o.disposed_at, '')]
      WHERE moment IS NOT NULL] AS moments,
     CASE size(systems) WHEN 0 THEN '' WHEN 1 THEN systems[0] ELSE '*' END AS system
RETURN o.key AS key, system,
       CASE size(items) WHEN 0 THEN '' WHEN 1 THEN items[0].key ELSE '*' END AS item,
       reduce(latest = '', moment IN moments |
         CASE WHEN moment > latest THEN moment ELSE latest END) AS exact_from,
       CASE WHEN o.disposed_at IS NOT NULL THEN '-'
            ELSE reduce(joined = '', other IN COLLECT {
                   UNWIND holders AS holder WITH holder WHERE holder <> system
                   RETURN holder ORDER BY holder
                 } | joined + CASE joined WHEN '' THEN '' ELSE '\t' END + other) END AS others,
       coalesce(o.storage_tier, '') AS tier, coalesce(o.bytes, 0) AS bytes,
       coalesce(o.created_at, '') AS created_at, coalesce(o.disposed_at, '') AS disposed_at,
       size(items) = 0 OR coalesce(o.unresolved, false) OR any(item IN items WHERE
         coalesce(item.unresolved, false)
         OR (coalesce(item.deidentified, false) AND NOT EXISTS { (item)-[:DERIVED_FROM]->() })
         OR EXISTS { MATCH (item)-[:PART_OF]->(study:Study) WHERE study.unresolved }) AS gap
ORDER BY key
