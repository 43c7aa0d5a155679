// held_copies: copies stored in system $system covered at $as_of by an active legal hold, with
// the holds. Params: $system (a system key), $as_of. (Two MATCH clauses: a hold on the system
// itself reaches the copy through the same STORED_IN edge that places it there.)
MATCH (o:ArchiveObject)-[:STORED_IN]->(:System {key: $system})
MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
      <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o)
WHERE e.event_type = 'legal_hold' AND e.started_at <= $as_of
  AND (e.ended_at IS NULL OR e.ended_at > $as_of)
WITH o, e ORDER BY e.key
RETURN o.key AS key, collect(DISTINCT e.key) AS holds
ORDER BY key
