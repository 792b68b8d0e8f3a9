"""The HTTP API: keys and scopes, error handling, and the endpoints of each domain."""
