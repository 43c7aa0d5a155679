// copy_keys: the keys of the stored copies after $after, in key order, at most $limit: the pages
// `retention apply` reads (a seek on the key index, never a scan of what came before).
MATCH (o:ArchiveObject)
WHERE o.key > $after
RETURN o.key AS key
ORDER BY key
LIMIT $limit
