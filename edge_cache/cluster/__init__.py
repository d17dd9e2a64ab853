"""`vodstack edge` in several processes: a supervisor and N workers sharing the port.

- `supervisor`: the parent. Reserves the address, starts the workers, relays messages
  between them over a unix-socket control channel, restarts a worker that dies, forwards
  SIGTERM and waits for the workers to drain.
- `worker`: one edge process (the usual app, on the hit path, on its own SO_REUSEPORT
  socket), with a cache of cache_size / N, linked to the others through the supervisor.
- `link`: the worker's end of the control channel: purges and invalidations reach every
  process, stored responses are copied to the others, stats and metrics are gathered.
- `frames`, `purges`: the wire format and the ordering rules (pure).
"""
