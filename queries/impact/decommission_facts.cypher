// decommission_facts: what the copies stored in $system say of themselves (`holding_facts`,
// `holding_*` on each copy), read from one index without visiting the copies, and what decides
// whether they can stand in for a walk of the system's copies. One row; none when there is no
// such system. Params: $system, $as_of.
// stored: STORED_IN relationships into the system (a count the store keeps); entries: copies
//   whose facts name it (every copy stored in it has them when the two are equal);
// several: copies of several items among them (the facts do not tell those apart);
// fed: a system other than a modality feeds it (a copy may then lack a recorded source);
// groups: for the copies whose facts hold at $as_of (no copy of their item created or disposed
//   after it), per `others` ('-': disposed), the copies and distinct items; sole: their items
//   no other system holds; later, later_items: the other copies, and their items, to walk
//   (an item's copies here share their facts: no item is in two groups);
// gaps: the copies flagged.
MATCH (s:System {key: $system})
CALL (s) {
  MATCH (o:ArchiveObject)
  WHERE o.holding_system = $system AND o.holding_gap IS NOT NULL
    AND o.holding_exact_from IS NOT NULL AND o.holding_others IS NOT NULL
    AND o.holding_item IS NOT NULL
  WITH o, o.holding_others AS others, o.holding_item AS item,
       o.holding_exact_from > $as_of AS later
  WITH others, later, count(*) AS copies,
       count(DISTINCT CASE WHEN item <> '' AND item <> '*' THEN item END) AS items,
       collect(DISTINCT CASE WHEN others = '' AND NOT later AND item <> '' AND item <> '*'
                             THEN item END) AS sole,
       count(CASE WHEN item = '*' THEN 1 END) AS several,
       collect(CASE WHEN later THEN o.key END) AS later_copies,
       collect(DISTINCT CASE WHEN later AND item <> '' AND item <> '*' THEN item END)
         AS later_items
  ORDER BY others
  RETURN sum(copies) AS entries, sum(several) AS several,
         collect(CASE WHEN NOT later THEN {others: others, copies: copies, items: items}
                 END) AS groups,
         reduce(all = [], found IN collect(sole) | all + found) AS sole,
         reduce(all = [], found IN collect(later_copies) | all + found) AS later,
         reduce(all = [], found IN collect(later_items) | all + found) AS later_items
}
CALL (s) {
  MATCH (o:ArchiveObject)
  WHERE o.holding_system = $system AND o.holding_gap = true
    AND o.holding_exact_from IS NOT NULL AND o.holding_others IS NOT NULL
    AND o.holding_item IS NOT NULL
  WITH o.key AS key ORDER BY key
  RETURN collect(key) AS gaps
}
RETURN COUNT { (s)<-[:STORED_IN]-() } AS stored, entries, several,
       EXISTS { MATCH (up:System)-[:FEEDS]->(s) WHERE coalesce(up.kind, '') <> 'modality' }
         AS fed,
       groups, COLLECT { UNWIND sole AS item RETURN item ORDER BY item } AS sole,
       COLLECT { UNWIND later AS key RETURN key ORDER BY key } AS later,
       COLLECT { UNWIND later_items AS item RETURN item ORDER BY item } AS later_items,
       gaps
