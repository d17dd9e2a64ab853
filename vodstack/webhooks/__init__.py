"""Webhooks: signed `video.ready` / `video.failed` events from a durable outbox."""
