"""The benchmark harness the scripts in `bench/` share.

- `wrk`: run wrk and parse its report (requests/s, transfer/s, latency percentiles, errors)
- `nginx`: nginx as the peer to beat, from a generated config in a temp dir (static files
  with sendfile, or proxy_cache in front of an upstream)
- `services`: `vodstack origin | edge | serve` as subprocesses on free loopback ports
- `objects`: the objects every HTTP bench serves (a 1.6 MB segment, a 300 B playlist)
- `compare`: configurations measured in alternation, medians, ratios, a markdown table
- `results`: machine facts (CPUs, load average, versions) and JSON in `bench/results/`
"""
