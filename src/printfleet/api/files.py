"""``/api/v1/files``: the print-file library — upload, list and search, read, delete, plate thumbnails.

The upload is ``multipart/form-data`` with the file in the part named ``file``. It is parsed here as it arrives
(python-multipart's streaming parser) and handed to the library chunk by chunk, so neither this layer nor
Starlette's form parser ever holds or spools the whole file; the body limit of this one route is ``files.max_size``
(plus :data:`MULTIPART_ALLOWANCE` for the framing), and the file itself is checked against ``files.max_size``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from printfleet.api.auth import audit, requires
from printfleet.api.context import ContextDep
from printfleet.api.errors import responses
from printfleet.api.file_schemas import FileList, FilePublic
from printfleet.domain.accounts.audit import AuditAction
from printfleet.domain.accounts.roles import Permission
from printfleet.domain.accounts.users import Principal
from printfleet.domain.files import FileKind
from printfleet.domain.files.library import FileQuery
from printfleet.services.errors import InvalidInput

UPLOAD_PATH = "/api/v1/files"
MULTIPART_ALLOWANCE = 64 * 1024
"""Bytes allowed on top of ``files.max_size`` for the multipart framing of an upload."""
MAX_ID = 2**31 - 1

router = APIRouter(prefix=UPLOAD_PATH, tags=["files"])

Reader = [requires(Permission.FILES_READ)]
Manager = Annotated[Principal, requires(Permission.FILES_MANAGE)]
FileId = Annotated[int, Path(ge=1, le=MAX_ID, description="The file's id.")]
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The sliced file: .gcode.3mf, .gcode or .bgcode.",
                        }
                    },
                }
            }
        },
    }
}


class _MultipartFile:
    """The first part named ``file`` (with a file name) of a ``multipart/form-data`` request body, as chunks."""

    def __init__(self, request: Request) -> None:
        content_type, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise InvalidInput("send the file as multipart/form-data in a part named 'file'")
        self._stream = request.stream().__aiter__()
        self._pending: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False
        self._done = False
        self.name: str | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if self.name is None and params.get(b"name") == b"file" and b"filename" in params:
            self.name = params[b"filename"].decode("utf-8", errors="replace")
            self._in_file = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._done = True

    async def _feed(self) -> bool:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            return False
        if chunk:
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                raise InvalidInput("the multipart body is malformed") from None
        return True

    async def open(self) -> str:
        """Read up to the file part's headers; its file name. Raises InvalidInput when there is none."""
        while self.name is None:
            if not await self._feed():
                raise InvalidInput("the upload has no part named 'file' with a file name")
        return self.name

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's content, chunk by chunk. Raises InvalidInput when the body ends inside the file."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if self._done:
                return
            if not await self._feed():
                raise InvalidInput("the upload ended before the end of the file")


@router.post(
    "",
    response_model=FilePublic,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    responses={**responses(), 200: {"model": FilePublic, "description": "This content is in the library already."}},
)
async def upload_file(request: Request, response: Response, context: ContextDep, principal: Manager) -> FilePublic:
    """Upload a sliced print file (``multipart/form-data``, part ``file``): 201 with its metadata, or 200 with the
    existing entry when the same content was uploaded before.

    Accepted: Bambu/Orca ``.gcode.3mf``, ``.gcode`` (PrusaSlicer, SuperSlicer, OrcaSlicer, Cura, ...) and
    ``.bgcode``. An unsliced ``.3mf`` or a model (``.stl``) is refused with 422 (slice it first); a file larger
    than ``files.max_size`` with 413. A file whose metadata cannot be read is accepted with null fields and a
    warning."""
    upload = _MultipartFile(request)
    try:
        name = await upload.open()
        stored, added = await context.files.store(name, upload.chunks(), uploaded_by=principal.user.id)
    except ClientDisconnect:
        raise InvalidInput("the upload was interrupted") from None
    if added:
        await audit(request, AuditAction.FILE_UPLOADED, f"file:{stored.id}", name=stored.name, size=stored.size_bytes)
    else:
        response.status_code = status.HTTP_200_OK
    return FilePublic.from_domain(stored)


@router.get("", response_model=FileList, dependencies=Reader, responses=responses())
async def list_files(
    context: ContextDep,
    search: Annotated[
        str | None, Query(max_length=255, pattern=_NO_CONTROL, description="Part of the name (any case).")
    ] = None,
    kind: FileKind | None = None,
    material: Annotated[
        str | None, Query(max_length=50, pattern=_NO_CONTROL, description="A filament type, e.g. PLA (any case).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> FileList:
    """Files, newest first, with the total matching the filters."""
    files, total = await context.files.list(
        FileQuery(search=search, kind=kind, material=material, limit=limit, offset=offset)
    )
    return FileList(files=[FilePublic.from_domain(stored) for stored in files], total=total)


@router.get("/{file_id}", response_model=FilePublic, dependencies=Reader, responses=responses(404))
async def get_file(file_id: FileId, context: ContextDep) -> FilePublic:
    """One file with its metadata."""
    return FilePublic.from_domain(await context.files.get(file_id))


@router.delete("/{file_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_file(file_id: FileId, request: Request, context: ContextDep, _principal: Manager) -> Response:
    """Remove a file from the library (and from disk)."""
    removed = await context.files.delete(file_id)
    await audit(request, AuditAction.FILE_DELETED, f"file:{file_id}", name=removed.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{file_id}/thumbnail",
    response_class=Response,
    dependencies=Reader,
    responses={
        **responses(404),
        200: {
            "content": {"image/png": {}, "image/jpeg": {}},
            "description": "The plate's preview image.",
        },
    },
)
async def file_thumbnail(
    file_id: FileId,
    context: ContextDep,
    plate: Annotated[int, Query(ge=1, le=1000, description="The plate number (G-code files: 1).")] = 1,
) -> Response:
    """A plate's preview image (PNG or JPEG); 404 when the file or plate has none."""
    image = await context.files.thumbnail(file_id, plate)
    return Response(content=image.data, media_type=image.media_type, headers={"Cache-Control": "private, max-age=3600"})
