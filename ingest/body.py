"""Reading an upload request: a raw body or a `multipart/form-data` form with a `file` field.

Either way the handler gets the file as a stream of chunks plus its labels (file name,
title, content type); nothing is buffered beyond one chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol
from urllib.parse import unquote

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from ingest.params import clean_filename, invalid, optional_title, source_content_type
from vodstack.errors import ApiError, ErrorCode

CHUNK_SIZE = 256 * 1024
MAX_FIELD_SIZE = 4096
FILE_FIELD = "file"
TITLE_FIELD = "title"


class IncomingUpload(Protocol):
    filename: str | None
    title: str | None
    content_type: str

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, as they arrive."""

    async def finish(self) -> None:
        """Read whatever follows the file in the request (form fields after it)."""


@contextlib.contextmanager
def malformed_body_is_bad_request() -> Iterator[None]:
    """A body that cannot be parsed is the client's fault: 400, not 500."""
    try:
        yield
    except HttpProcessingError as exc:
        raise ApiError(
            ErrorCode.BAD_REQUEST, f"The request body is malformed: {exc.message}"
        ) from exc
    except (ValueError, LookupError) as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"The request body is malformed: {exc}") from exc


def is_form(request: web.Request) -> bool:
    return request.content_type == "multipart/form-data"


async def open_upload(request: web.Request) -> IncomingUpload:
    if is_form(request):
        form = FormUpload(request)
        await form.start()
        return form
    if request.content_type.startswith("multipart/"):
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "Send the file as the raw body or as multipart/form-data with a 'file' field.",
        )
    return RawUpload(request)


class RawUpload:
    """The body is the file; `?filename=` or `Content-Disposition` names it, `?title=` titles it."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.filename = clean_filename(
            request.query.get("filename") or _disposition_filename(request)
        )
        self.title = optional_title(request.query.get("title"))
        self.content_type = source_content_type(request.headers.get(hdrs.CONTENT_TYPE))

    async def chunks(self) -> AsyncIterator[bytes]:
        with malformed_body_is_bad_request():
            async for chunk in self._request.content.iter_chunked(CHUNK_SIZE):
                yield chunk

    async def finish(self) -> None:
        return None


def _disposition_filename(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.CONTENT_DISPOSITION)
    if not header:
        return None
    _kind, params = parse_content_disposition(header)
    return content_disposition_filename(params, "filename")


class FormUpload:
    """Fields before the file are read first, the file is streamed, fields after it last."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._reader: MultipartReader | None = None
        self._file: BodyPartReader | None = None
        self.filename: str | None = None
        self.title = optional_title(request.query.get("title"))
        self.content_type = "application/octet-stream"

    async def start(self) -> None:
        """Read up to the `file` part; 400 missing_file when there is none."""
        with malformed_body_is_bad_request():
            self._reader = await self._request.multipart()
            while (part := await self._next_part()) is not None:
                if part.name == FILE_FIELD:
                    self._file = part
                    # RFC 7578 §4.2: senders may percent-encode the file name.
                    self.filename = clean_filename(unquote(part.filename or ""))
                    self.content_type = source_content_type(part.headers.get(hdrs.CONTENT_TYPE))
                    return
                await self._read_field(part)
        raise ApiError(ErrorCode.MISSING_FILE)

    async def _next_part(self) -> BodyPartReader | None:
        assert self._reader is not None
        part = await self._reader.next()
        if part is None or isinstance(part, BodyPartReader):
            return part
        raise ApiError(ErrorCode.BAD_REQUEST, "Nested multipart forms are not accepted.")

    async def _read_field(self, part: BodyPartReader) -> None:
        if part.name == FILE_FIELD:
            raise ApiError(ErrorCode.BAD_REQUEST, "Send one 'file' per upload.")
        if part.name != TITLE_FIELD:
            await part.release()
            return
        data = bytearray()
        while chunk := await part.read_chunk(1024):
            data += chunk
            if len(data) > MAX_FIELD_SIZE:
                raise invalid("title", "is too long")
        self.title = optional_title(data.decode(part.get_charset("utf-8"))) or self.title

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self._file is not None
        with malformed_body_is_bad_request():
            while chunk := await self._file.read_chunk(CHUNK_SIZE):
                yield chunk

    async def finish(self) -> None:
        with malformed_body_is_bad_request():
            while (part := await self._next_part()) is not None:
                await self._read_field(part)
