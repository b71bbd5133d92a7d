"""Streams a multipart/form-data upload into the object store: one file part plus a few small text fields.

The body is never held whole: each chunk the server receives is parsed and its file bytes written on (in a
worker thread, so the event loop keeps serving), and past `max_bytes` the write stops with 413.
"""

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from catalog_api.entrypoints.problems import Problem
from catalog_kit.object_store import ObjectStore, ObjectTooLarge, ObjectWriter, StoredObject

FILE_FIELD = "file"
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 16
_HANDOFF_BYTES = 1024 * 1024  # bytes gathered before one hop to the worker thread


@dataclass
class Upload:
    """The stored file and the form's text fields."""

    stored: StoredObject
    file_name: str | None
    content_type: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _FormReader:
    """python-multipart callbacks: the file part goes to the object writer, text fields into memory (bounded)."""

    def __init__(self, store: ObjectStore, key: str, max_bytes: int) -> None:
        self.store, self.key, self.max_bytes = store, key, max_bytes
        self.writer: ObjectWriter | None = None
        self.file_name: str | None = None
        self.content_type: str | None = None
        self.fields: dict[str, str] = {}
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._field: str | None = None
        self._value = bytearray()
        self._in_file = False
        self.complete = False  # the closing boundary arrived: the file part is whole

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._append_header_name(data[start:end]),
            "on_header_value": lambda data, start, end: self._append_header_value(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self._part_data(data[start:end]),
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._field, self._value, self._in_file = None, bytearray(), False

    def _append_header_name(self, data: bytes) -> None:
        self._header_name += data

    def _append_header_value(self, data: bytes) -> None:
        self._header_value += data

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode(errors="replace")
        if name == FILE_FIELD:
            if self.writer is not None:
                raise _BadForm("send exactly one file part named 'file'")
            self._in_file = True
            self.file_name = params.get(b"filename", b"").decode(errors="replace") or None
            self.content_type = self._headers.get(b"content-type", b"").decode(errors="replace") or None
            self.writer = self.store.writer(self.key, max_bytes=self.max_bytes)
        else:
            if len(self.fields) >= MAX_FIELDS:
                raise _BadForm(f"at most {MAX_FIELDS} form fields are allowed")
            self._field = name

    def _part_data(self, data: bytes) -> None:
        if self._in_file:
            assert self.writer is not None
            self.writer.write(data)
        elif self._field is not None:
            self._value += data
            if len(self._value) > MAX_FIELD_BYTES:
                raise _BadForm(f"form field {self._field!r} is longer than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        self.complete = True

    def _part_end(self) -> None:
        if self._field is not None:
            self.fields[self._field] = self._value.decode(errors="replace").strip()
        self._field, self._in_file = None, False


class _BadForm(Exception):
    pass


async def receive_upload(request: Request, store: ObjectStore, key: str, max_bytes: int, what: str = "feed") -> Upload:
    """Stream the request's form into `store` under `key`; problems: 415 not a form, 413 too large, 422 no file.

    `what` names the file in the problems' wording ("feed", "image").
    """
    media_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Problem(
            415, "unsupported-media-type", f"Send the {what} as multipart/form-data", "with a part named 'file'"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + 64 * 1024:  # room for the form's own framing
        raise _too_large(max_bytes, what)
    reader = _FormReader(store, key, max_bytes)
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= _HANDOFF_BYTES:
                await run_in_threadpool(parser.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(parser.write, bytes(pending))
        parser.finalize()
        if not reader.complete:
            raise _BadForm("the form ends before its closing boundary: the upload is incomplete")
        if reader.writer is None:
            raise Problem(
                422,
                "validation",
                "Invalid request",
                "the form has no file",
                [{"field": FILE_FIELD, "message": f"send the {what} as a part named 'file'", "code": "missing"}],
            )
        stored = await run_in_threadpool(reader.writer.commit)
    except ObjectTooLarge as exc:
        raise _too_large(max_bytes, what) from exc
    except (_BadForm, FormParserError) as exc:
        raise Problem(
            422,
            "validation",
            "Invalid request",
            str(exc),
            [{"field": FILE_FIELD, "message": str(exc), "code": "form"}],
        ) from exc
    finally:
        if reader.writer is not None:
            reader.writer.abort()  # no-op after commit; otherwise nothing half-written stays behind
    return Upload(stored, reader.file_name, reader.content_type, reader.fields)


def _too_large(max_bytes: int, what: str) -> Problem:
    return Problem(
        413,
        "body-too-large",
        f"{what.capitalize()} too large",
        f"{what}s are limited to {max_bytes} bytes",
        headers={"Connection": "close"},
    )
