"""Development tools: local Neo4j and Orthanc servers, the test runner."""
