"""Chunked transcoding: one long video split into parts that any workers run in parallel.

The ordinary job of an upload becomes the *plan*: it probes the source and, when the video
spans at least two `chunk_duration` chunks, queues one job per part — each video chunk
(every rung, video only) and the audio (every audio rendition, the whole video) — and
ends. Each part job encodes its part, uploads its segments under the video's version
prefix and a manifest of what it made, and marks itself done in the part ledger; the one
that completes the set queues the *join*, which writes one media playlist per rendition
and the master (last), and marks the video ready. Nothing is re-encoded by the join.

Modules: `plan` (chunk boundaries, pure), `args` (ffmpeg commands, pure), `manifest` (what
a part made), `join` (playlists and master, pure), `jobs` (job kinds and payloads), `ledger`
(which parts are done, their progress; SQLite and Redis), `planner`, `part`, `joiner` (the
three job kinds' I/O) and `dispatch` (what the worker calls).
"""
