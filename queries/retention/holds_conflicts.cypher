// holds_conflicts: copies disposed while a legal hold covering them was active (up to $as_of).
MATCH (e:ComplianceEvent)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
      <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o:ArchiveObject)
WHERE e.event_type = 'legal_hold' AND o.disposed_at IS NOT NULL AND o.disposed_at <= $as_of
  AND e.started_at <= o.disposed_at AND (e.ended_at IS NULL OR e.ended_at > o.disposed_at)
RETURN DISTINCT o.key AS key, e.key AS hold, o.disposed_at AS disposed_at
ORDER BY key, hold
