"""Transport: the HTTP API."""
