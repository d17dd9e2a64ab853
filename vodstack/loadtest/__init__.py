"""`vodstack loadtest`: simulated HLS players against an origin or an edge.

Pure parts (bit-rate choice, buffer model, histograms, the report) live apart from the
I/O (`fetch`, `player`, `runner`), so they are unit-tested without servers.
"""
