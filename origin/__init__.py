"""The origin: serves published videos from the object store with HTTP cache semantics."""
