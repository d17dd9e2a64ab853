"""The base URLs for links in an answer to this request (see `ingest.urls`), and how
playback links are signed."""

from __future__ import annotations

from aiohttp import web

from ingest.urls import base_url, media_base_url
from vodstack.playback.signer import UrlSigner, unsigned, url_signer
from vodstack.web import SETTINGS


def request_base_url(request: web.Request) -> str:
    return base_url(
        request.app[SETTINGS].public_url,
        scheme=request.scheme,
        host=request.host,
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_host=request.headers.get("X-Forwarded-Host"),
    )


def request_media_base_url(request: web.Request, api_base: str) -> str:
    """Base of playback and poster links: `media_url` if set, else `api_base`."""
    return media_base_url(request.app[SETTINGS].media_url, api_base)


def request_signer(request: web.Request) -> UrlSigner:
    """How this app signs playback links (`unsigned` when signed playback is off)."""
    return url_signer(request.app[SETTINGS]) or unsigned
