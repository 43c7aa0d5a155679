// decommission_access: access profiles granting on system $system (to revoke).
MATCH (p:AccessProfile)-[g:GRANTS]->(:System {key: $system})
WHERE (g.valid_from IS NULL OR g.valid_from <= $as_of)
  AND (g.valid_to IS NULL OR g.valid_to > $as_of)
RETURN p.key AS key, p.role AS role, g.actions AS actions
ORDER BY key
