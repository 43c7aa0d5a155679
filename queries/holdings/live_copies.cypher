// live_copies: the copies a system holds now, as the graph believes: stored in it, neither
// disposed nor rejected. A sweep disposes those a full rescan did not see; a reconciliation
// compares them with the system's own listing.
// Params: $system (a system key). Rows: key, holds (the series or study key it is a copy of,
// the least when several), instance_count; sorted by key.
MATCH (o:ArchiveObject)-[:STORED_IN]->(:System {key: $system})
WHERE o.disposed_at IS NULL AND o.rejected_at IS NULL
OPTIONAL MATCH (o)-[:COPY_OF]->(held)
WITH o, min(held.key) AS holds
RETURN o.key AS key, holds, o.instance_count AS instance_count
ORDER BY key
