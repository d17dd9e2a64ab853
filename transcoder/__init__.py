"""Transcoder worker: lease a job, probe, choose a ladder, run one ffmpeg, publish HLS."""
