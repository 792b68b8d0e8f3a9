"""Normalized events: the vocabulary, the schema every source maps into, the CloudEvents envelope, the event store."""
