"""The upload API: receive videos (streamed into the object store), report their status,
list, rename and delete them, and enqueue transcode jobs."""
