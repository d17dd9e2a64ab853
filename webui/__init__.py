"""The web pages: the library (`/`) and the player (`/watch/<id>`), served with the API.

Plain HTML, small ES modules and CSS, no build step. The pages talk to the public API only
(`/v1/videos…`, `playback_url`, `poster_url`); the server renders just the page shells.
"""
