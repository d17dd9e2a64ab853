"""Resumable uploads over tus 1.0 at /v1/uploads/ (https://tus.io/protocols/resumable-upload)."""
