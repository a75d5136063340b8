"""The four named storages (documents, assets, uploads, viewer) and short-lived URLs to what they hold.

A stored reference is what the database keeps: `s3://<bucket>/<key>` for an S3-backed storage, or
`storage://<alias>/<key>` for a filesystem one. Only `signed_url` turns a reference into something a
browser can fetch: an S3 presigned GET, or locally a link to `hpb.views.serve_signed_file` carrying an
HMAC of (alias, key, expiry). References never leave the server raw.

Signed URLs are *windowed* (`STORAGE_URL_WINDOW_SECONDS`, `signing_window`): every URL for one object
signed within the same window is the same string, so a browser's cache (keyed by URL) serves a volume
again instead of downloading it under a fresh signature on every API call. Each URL still expires:
it is valid for at least `STORAGE_URL_EXPIRY_SECONDS` and at most that plus one window.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, cast
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

from hpb import presign
from hpb.settings_helpers import STORAGE_ALIASES

if TYPE_CHECKING:  # django-storages ships no type information: this is Any to mypy
    from storages.backends.s3 import S3Storage

logger = logging.getLogger(__name__)

_SIGNING_SALT = "hpb.storage.signed-file-url"
# What Django's reverse() leaves unquoted in a path argument (RFC 3986 sub-delims plus "/~:@").
_PATH_SAFE = "!$&'()*+,;=/~:@"


class InvalidReferenceError(ValueError):
    """A stored reference that names no configured storage or is malformed."""


@dataclass(frozen=True)
class StoredObject:
    """A parsed reference: which storage alias and which key inside it."""

    alias: str
    key: str


def get_storage(alias: str) -> Storage:
    if alias not in STORAGE_ALIASES:
        raise InvalidReferenceError(f"Unknown storage {alias!r}; expected one of {', '.join(STORAGE_ALIASES)}.")
    return storages[alias]


def is_s3(alias: str) -> bool:
    return settings.STORAGES[alias]["BACKEND"].startswith("storages.backends.s3")


def bucket_name(alias: str) -> str:
    return settings.STORAGES[alias]["OPTIONS"]["bucket_name"]


def reference_for(alias: str, key: str) -> str:
    """The reference to store in the database for `key` in storage `alias`."""
    get_storage(alias)
    key = key.lstrip("/")
    if is_s3(alias):
        return f"s3://{bucket_name(alias)}/{key}"
    return f"storage://{alias}/{key}"


def parse_reference(reference: str, *, default_alias: str | None = None) -> StoredObject:
    """Split a reference into (alias, key). A bare key needs `default_alias`."""
    if not reference:
        raise InvalidReferenceError("Empty storage reference.")
    if reference.startswith("s3://"):
        bucket, _, key = reference[5:].partition("/")
        for alias in STORAGE_ALIASES:
            if is_s3(alias) and bucket_name(alias) == bucket:
                return _checked(StoredObject(alias, key))
        raise InvalidReferenceError("The reference names a bucket that no configured storage uses.")
    if reference.startswith("storage://"):
        alias, _, key = reference[10:].partition("/")
        get_storage(alias)
        return _checked(StoredObject(alias, key))
    if "://" in reference:
        raise InvalidReferenceError("Unsupported reference scheme.")
    if default_alias is None:
        raise InvalidReferenceError("A bare storage key needs a storage alias.")
    get_storage(default_alias)
    return _checked(StoredObject(default_alias, reference))


def _checked(obj: StoredObject) -> StoredObject:
    key = obj.key
    if not key or key.startswith("/") or "\\" in key or "\x00" in key or ".." in key.split("/"):
        raise InvalidReferenceError("The storage key is empty or escapes its storage.")
    return obj


def save(alias: str, key: str, content: bytes | IO[bytes] | File) -> str:
    """Write `content` under exactly `key` (replacing what was there) and return its reference.

    Idempotent re-runs (seeding, re-ingesting) must land on the same key, so an existing file is
    replaced rather than renamed the way Django's FileSystemStorage would.
    """
    storage = get_storage(alias)
    if isinstance(content, bytes):
        content = ContentFile(content)
    elif not isinstance(content, File):
        content = File(content)
    if is_s3(alias):  # S3 replaces an object atomically
        stored_key = storage.save(key, content)
        if stored_key != key:  # pragma: no cover - file_overwrite is set in build_storages
            raise ImproperlyConfigured(f"Storage {alias} stored {stored_key!r} instead of {key!r}.")
        return reference_for(alias, key)
    # On a filesystem, write beside the target and rename over it: a failure while writing leaves the
    # previous file whole, and readers never see a half-written one.
    partial_key = f"{key}.partial-{uuid.uuid4().hex}"
    try:
        partial_key = storage.save(partial_key, content)
        os.replace(storage.path(partial_key), storage.path(key))
    except BaseException:
        if storage.exists(partial_key):
            storage.delete(partial_key)
        raise
    return reference_for(alias, key)


def delete(reference: str) -> None:
    """Remove the object behind a reference; missing objects are not an error."""
    obj = parse_reference(reference)
    storage = get_storage(obj.alias)
    if storage.exists(obj.key):
        storage.delete(obj.key)


def open_reference(reference: str, mode: str = "rb") -> File:
    obj = parse_reference(reference)
    return get_storage(obj.alias).open(obj.key, mode)


def expiry_seconds() -> int:
    return int(settings.STORAGE_URL_EXPIRY_SECONDS)


def window_seconds() -> int:
    return max(0, int(getattr(settings, "STORAGE_URL_WINDOW_SECONDS", 0)))


@dataclass(frozen=True)
class SigningWindow:
    """When a URL is signed and for how long: the same for every URL signed within one window."""

    signed_at: int  # Unix seconds: the start of the current window (now, without a window)
    lifetime: int  # seconds from signed_at: the requested lifetime plus one window

    @property
    def expires_at(self) -> int:
        return self.signed_at + self.lifetime


def signing_window(ttl: int, *, now: float | None = None) -> SigningWindow:
    """The window `now` falls in, for a URL that must stay valid at least `ttl` seconds from `now`.

    Signed at the window's start and valid for `ttl` plus a window, a URL signed at any moment of the
    window is valid for `ttl` to `ttl + window` seconds. Window 0 signs at `now` for exactly `ttl`.
    """
    current = int(now if now is not None else time.time())
    window = window_seconds()
    if window <= 0 or ttl <= 0:
        return SigningWindow(signed_at=current, lifetime=ttl)
    return SigningWindow(signed_at=current - current % window, lifetime=ttl + window)


@functools.lru_cache(maxsize=4)
def _signing_key(secret: str) -> bytes:
    # Django's salted_hmac derives this key on every call; it depends only on the secret.
    return hashlib.sha256(_SIGNING_SALT.encode() + secret.encode()).digest()


def file_signature(alias: str, key: str, expires: int) -> str:
    """HMAC over the alias, key and expiry, keyed by SECRET_KEY (salted so it serves nothing else).

    Byte-for-byte `salted_hmac(_SIGNING_SALT, ..., algorithm="sha256")`, with the derived key cached.
    """
    message = f"{alias}\n{key}\n{expires}".encode()
    return hmac.new(_signing_key(settings.SECRET_KEY), message, hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=64)
def _file_url_prefix(alias: str, script_prefix: str, urlconf: str | None) -> str:
    """The path of `hpb:signed-file` for `alias` up to the key (reverse() is costly per URL)."""
    placeholder = "k"
    path = reverse("hpb:signed-file", kwargs={"alias": alias, "key": placeholder}, urlconf=urlconf)
    return path[: -len(placeholder)]


def file_url_path(alias: str, key: str) -> str:
    """`reverse("hpb:signed-file", kwargs={"alias": alias, "key": key})`, from a cached prefix."""
    prefix = _file_url_prefix(alias, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    return prefix + quote(key, safe=_PATH_SAFE)


@dataclass(frozen=True)
class _S3Signing:
    """What signing a URL needs of one S3 storage instance, looked up once and kept on the instance."""

    presigner: presign.S3Presigner | None  # None: url() does more than presign, so url() it is
    clean_name: Callable[[str], str]


def _s3_signing(storage: S3Storage) -> _S3Signing:
    signing = storage.__dict__.get("_hpb_signing")
    if signing is None:
        from storages.utils import clean_name

        presigner = None
        if storage.querystring_auth and not storage.custom_domain:  # otherwise url() does more than presign
            presigner = presign.presigner_for(storage.connection.meta.client, storage.bucket_name)
        signing = _S3Signing(presigner=presigner, clean_name=clean_name)
        storage._hpb_signing = signing
    return signing


def _presigned_s3_url(storage: Storage, key: str, ttl: int, *, now: float | None = None) -> str:
    """boto3's presigned GET, computed by hpb.presign when it can (same URL, ~20x cheaper), windowed.

    The presigner is cached on the storage instance, so a settings change (which makes Django build
    new storage instances) never reuses a stale one. When boto3 itself must sign (a custom domain, not
    SigV4), it signs at the current time: such URLs are not windowed.
    """
    s3 = cast("S3Storage", storage)  # the caller checked is_s3(alias)
    signing = _s3_signing(s3)
    if signing.presigner is None:
        return s3.url(key, expire=ttl)
    window = signing_window(ttl, now=now)
    signed_at = dt.datetime.fromtimestamp(window.signed_at, dt.UTC)
    # The key exactly as S3Storage.url() would put it in the URL (location prefix, normalisation).
    return signing.presigner.url(s3._normalize_name(signing.clean_name(key)), window.lifetime, now=signed_at)


def _base_url(request: HttpRequest) -> str:
    """scheme://host of the request, computed once per request (host validation is not free)."""
    cached = vars(request)
    base = cached.get("_hpb_base_url")
    if base is None:
        base = request.build_absolute_uri("/")[:-1]
        cached["_hpb_base_url"] = base
    return base


def verify_file_signature(alias: str, key: str, expires: str, signature: str, *, now: float | None = None) -> bool:
    """True when the signature matches and the link has not expired (constant-time comparison)."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if expires_at < int(now if now is not None else time.time()):
        return False
    return hmac.compare_digest(file_signature(alias, key, expires_at), signature or "")


def signed_url(
    reference: str | None,
    *,
    request: HttpRequest | None = None,
    default_alias: str | None = None,
    expires_in: int | None = None,
    now: float | None = None,
) -> str | None:
    """A short-lived, fetchable URL for a stored reference; None for an empty or unusable reference.

    S3 storages presign a GET (the signature carries the expiry; hpb.presign computes boto3's URL
    without boto3's per-call overhead); filesystem storages get a link to our own view with an HMAC
    signature and expiry checked on every request. Both are cheap enough to call a dozen times per
    response: the cached pieces are the HMAC key, the URL prefix and the request's base URL.

    Both are windowed (`signing_window`): the same URL for the same object within a window.
    """
    if not reference:
        return None
    try:
        obj = parse_reference(reference, default_alias=default_alias)
    except InvalidReferenceError:
        logger.warning("Refusing to sign an unusable storage reference.")
        return None
    ttl = expires_in if expires_in is not None else expiry_seconds()
    storage = get_storage(obj.alias)
    if is_s3(obj.alias):
        return _presigned_s3_url(storage, obj.key, ttl, now=now)
    expires = signing_window(ttl, now=now).expires_at
    url = (
        f"{file_url_path(obj.alias, obj.key)}?expires={expires}&signature={file_signature(obj.alias, obj.key, expires)}"
    )
    if request is not None:
        return _base_url(request) + url
    return settings.PUBLIC_BASE_URL.rstrip("/") + url
