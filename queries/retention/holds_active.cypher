// holds_active: compliance events active at $as_of, their scope and how many stored copies
// they cover (live ones apart). Params: $as_of.
MATCH (e:ComplianceEvent)
WHERE e.started_at <= $as_of AND (e.ended_at IS NULL OR e.ended_at > $as_of)
OPTIONAL MATCH (e)-[:APPLIES_TO]->(target)
WITH e, target ORDER BY target.key
WITH e, [k IN collect(target.key) WHERE k IS NOT NULL] AS scope
OPTIONAL MATCH (e)-[:APPLIES_TO]->()-[:INCLUDES*0..1]->()
               <-[:OF_PATIENT|PART_OF|COPY_OF|STORED_IN*0..3]-(o:ArchiveObject)
WITH e, scope, collect(DISTINCT o) AS covered
RETURN e.key AS key, e.event_type AS type, e.started_at AS started_at, e.ended_at AS ended_at,
       scope, size(covered) AS covered,
       size([o IN covered WHERE (o.created_at IS NULL OR o.created_at <= $as_of)
             AND (o.disposed_at IS NULL OR o.disposed_at > $as_of)]) AS covered_live
ORDER BY key
