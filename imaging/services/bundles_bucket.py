"""A local, read-only, anonymous S3 bucket over the filesystem `viewer` storage, for the unmodified viewer.

The learnHPB viewer lists a bucket (ListObjectsV2 with `prefix`, `delimiter` and continuation tokens,
XML) and GETs objects, anonymously, from a host whose name contains `.s3.` (notes/viewer-facts.md).
`make viewer-bucket` (`manage.py serve_viewer_bucket`) serves exactly that subset from the folder the
bundles are written to, so what the viewer shows is always the current folder: no copy to keep in
sync (a moto server would need one). Requests name the bucket by virtual host
(`hpb.s3.localhost:9000`) or path (`127.0.0.1:9000/hpb/...`); answers carry CORS headers for any
origin, ETags (MD5 of the content, as S3's for single-part objects), Content-Type and Cache-Control
as the bundle writer sets them on S3 (manifest `no-cache`, versioned files immutable).

Local development only: it binds to the loopback address by default and never writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

MAX_KEYS = 1000
_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass(frozen=True)
class StoredObject:
    key: str
    path: Path
    size: int
    modified: float


class FolderBucket:
    """The objects of one folder as the keys of a bucket: `a/b.vtp` is the file `<root>/a/b.vtp`."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root.resolve()
        self.name = name
        self._etags: dict[tuple[str, int, float], str] = {}
        self._lock = threading.Lock()

    def objects(self, prefix: str = "") -> list[StoredObject]:
        """Every object whose key starts with `prefix`, sorted by key (hidden partial files left out)."""
        found = []
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if not path.is_file() or path.name.startswith(".") or ".partial-" in path.name:
                    continue
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(StoredObject(key=key, path=path, size=stat.st_size, modified=stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def get(self, key: str) -> StoredObject | None:
        if not key or "\\" in key or "\x00" in key or any(part in ("", ".", "..") for part in key.split("/")):
            return None
        path = (self.root / key).resolve()
        if self.root not in path.parents or not path.is_file():
            return None
        stat = path.stat()
        return StoredObject(key=key, path=path, size=stat.st_size, modified=stat.st_mtime)

    def etag(self, obj: StoredObject) -> str:
        cache_key = (obj.key, obj.size, obj.modified)
        with self._lock:
            cached = self._etags.get(cache_key)
        if cached is None:
            digest = hashlib.md5(usedforsecurity=False)
            with obj.path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            cached = f'"{digest.hexdigest()}"'
            with self._lock:
                self._etags[cache_key] = cached
        return cached


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(value: str) -> str:
    return base64.urlsafe_b64decode(value.encode()).decode()


def list_objects_v2(bucket: FolderBucket, query: dict[str, str]) -> str:
    """The XML body of ListObjectsV2 for `query` (prefix, delimiter, max-keys, continuation-token, start-after)."""
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = max(0, min(MAX_KEYS, int(query.get("max-keys") or MAX_KEYS)))
    after = query.get("start-after", "")
    if query.get("continuation-token"):
        after = _untoken(query["continuation-token"])
    entries: list[tuple[str, StoredObject | None]] = []  # (key or common prefix, object or None)
    seen_prefixes: set[str] = set()
    for obj in bucket.objects(prefix):
        rest = obj.key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if common not in seen_prefixes:
                seen_prefixes.add(common)
                entries.append((common, None))
        else:
            entries.append((obj.key, obj))
    entries = [e for e in entries if e[0] > after] if after else entries
    page, truncated = entries[:max_keys], len(entries) > max_keys
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_NS}">',
        f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix>",
        f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
    ]
    if delimiter:
        parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
    if query.get("continuation-token"):
        parts.append(f"<ContinuationToken>{escape(query['continuation-token'])}</ContinuationToken>")
    if truncated:
        parts.append(f"<NextContinuationToken>{_token(page[-1][0])}</NextContinuationToken>")
    for name, item in page:
        if item is None:
            parts.append(f"<CommonPrefixes><Prefix>{escape(name)}</Prefix></CommonPrefixes>")
        else:
            parts.append(
                f"<Contents><Key>{escape(item.key)}</Key><LastModified>{_iso(item.modified)}</LastModified>"
                f"<ETag>{escape(bucket.etag(item))}</ETag><Size>{item.size}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
    parts.append("</ListBucketResult>")
    return "".join(parts)


def _content_type(key: str) -> str:
    if key.endswith((".vti", ".vtp")):
        return "application/octet-stream"
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _cache_control(key: str) -> str:
    return "no-cache" if key.endswith(".json") else "public, max-age=31536000, immutable"


class _Handler(BaseHTTPRequestHandler):
    server: BucketServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _bucket_and_key(self) -> tuple[str | None, str, dict[str, str]]:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = unquote(url.path)
        if ".s3." in host:  # virtual host: <bucket>.s3.<anything>
            return host.split(".s3.")[0], path.lstrip("/"), query
        bucket, _, key = path.lstrip("/").partition("/")
        return bucket or None, key, query

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**self._cors(), "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _cors(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
            "Access-Control-Allow-Methods": "GET, HEAD",
            "Access-Control-Allow-Headers": "*",
            "Access-Control-Expose-Headers": "ETag, Content-Length, Content-Type",
            "Vary": "Origin",
        }

    def _error(self, status: HTTPStatus, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error>"
        ).encode()
        self._send(status, body, {"Content-Type": "application/xml"})

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
        self._send(HTTPStatus.OK, b"", {"Access-Control-Max-Age": "600"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        bucket_name, key, query = self._bucket_and_key()
        bucket = self.server.bucket
        if bucket_name != bucket.name:
            self._error(HTTPStatus.NOT_FOUND, "NoSuchBucket", f"This server holds only the bucket {bucket.name!r}.")
            return
        if not key:
            if query.get("list-type") != "2":
                self._error(HTTPStatus.BAD_REQUEST, "InvalidArgument", "Only ListObjectsV2 (list-type=2) is served.")
                return
            try:
                body = list_objects_v2(bucket, query).encode()
            except ValueError:
                self._error(HTTPStatus.BAD_REQUEST, "InvalidArgument", "Malformed max-keys or continuation-token.")
                return
            self._send(HTTPStatus.OK, body, {"Content-Type": "application/xml"})
            return
        obj = bucket.get(key)
        if obj is None:
            self._error(HTTPStatus.NOT_FOUND, "NoSuchKey", "The specified key does not exist.")
            return
        etag = bucket.etag(obj)
        headers = {
            "ETag": etag,
            "Last-Modified": dt.datetime.fromtimestamp(obj.modified, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Cache-Control": _cache_control(key),
            "Content-Type": _content_type(key),
        }
        if etag in {t.strip() for t in (self.headers.get("If-None-Match") or "").split(",")}:
            self._send(HTTPStatus.NOT_MODIFIED, b"", headers)
            return
        if self.command == "HEAD":
            self._send(HTTPStatus.OK, b"", {**headers, "Content-Length": str(obj.size)})
            return
        self._send(HTTPStatus.OK, obj.path.read_bytes(), headers)


class BucketServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], bucket: FolderBucket, *, verbose: bool = False) -> None:
        super().__init__(address, _Handler)
        self.bucket = bucket
        self.verbose = verbose


def base_url(*, bucket: str, host: str, port: int, prefix: str) -> str:
    """The viewer's VITE_CASE_ASSET_BASE_URL for this server: virtual-host style, so it contains `.s3.`."""
    return f"http://{bucket}.s3.{host}:{port}/{quote(prefix)}"
