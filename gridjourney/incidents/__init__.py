"""Power outage incidents: where they are, deduplication, whether a premise still has no power."""
