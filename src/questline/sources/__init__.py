"""Data sources: a format reader, a declarative mapping to normalized events, a location and a sync schedule."""
