"""The query library: each query defined once as a contract (name, parameters, result model),
with a Cypher implementation in `queries/**/*.cypher` (parameters only as `$params`) and a
NetworkX implementation over the local store's graph view; a differential test requires both to
give identical results.
"""
