"""Signed playback URLs: HMAC tokens and the playlist rewriting that carries them."""
