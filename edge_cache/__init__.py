"""A caching reverse proxy for any HTTP upstream: RFC 9111 shared-cache rules, a byte-bounded
LRU, collapsed forwarding, stale serving, load balancing over several origins, purge and warm.

`edge_cache.app.create_app(settings)` builds the aiohttp application; `vodstack edge` runs it.
"""
