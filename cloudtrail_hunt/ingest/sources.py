"""List and fetch CloudTrail objects from a local folder or an S3 prefix, in order, with retries.

First stage of ingest (**list** → decode → normalize → lake). `layout.py` decides which prefixes
to list; the backends do the I/O: `local.py` for a folder or file, `s3.py` for an S3 prefix.
This module holds what callers use (`SourceObject`, the `Source` protocol, `open_source`) and
re-exports both backends. Fetching never raises for one bad object: a permanent failure comes
back as an `ObjectError` value in its place, so the rest of a run still loads and the quarantine
can name what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cloudtrail_hunt.errors import ConfigError, ObjectError
from cloudtrail_hunt.ingest._base import SourceObject
from cloudtrail_hunt.ingest.layout import Kind
from cloudtrail_hunt.ingest.local import LocalSource
from cloudtrail_hunt.ingest.s3 import S3Source, _split_s3

if TYPE_CHECKING:
    from datetime import date

__all__ = ["LocalSource", "S3Source", "Source", "SourceObject", "open_source"]


class Source(Protocol):
    """A place CloudTrail objects are listed and fetched from (a local tree or an S3 prefix)."""

    root: str

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the objects of the requested days, accounts, regions and kinds, in key order."""
        ...

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Yield each object with its bytes or an `ObjectError`, in input order."""
        ...


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def open_source(
    uri: str | Path,
    *,
    endpoint_url: str | None = None,
    anon: bool = False,
    max_concurrency: int = 16,
    max_attempts: int = 8,
) -> Source:
    """Open a local folder or file, or an ``s3://bucket[/prefix]``, as a `Source`.

    Parameters
    ----------
    uri
        A local path, or ``s3://bucket`` / ``s3://bucket/prefix``.
    endpoint_url
        S3 only: an S3-compatible endpoint (otherwise boto3 reads ``AWS_ENDPOINT_URL_S3`` /
        ``AWS_ENDPOINT_URL``, or uses AWS).
    anon
        S3 only: unsigned requests, for public buckets. Off by default.
    max_concurrency
        S3 only: parallel requests.
    max_attempts
        S3 only: total attempts per request, including the first.

    Returns
    -------
    Source
        A `LocalSource` or an `S3Source`. Credentials come from boto3's default chain.

    Raises
    ------
    ConfigError
        An unsupported scheme, an empty bucket name, a local path that does not exist, or a
        non-positive `max_concurrency` / `max_attempts`.
    """
    for name, value in (("max_concurrency", max_concurrency), ("max_attempts", max_attempts)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            msg = f"must be a positive integer, got {value!r}"
            raise ConfigError(key=name, reason=msg)
    text = os.fspath(uri)
    if text.startswith("s3://"):
        bucket, prefix = _split_s3(text)
        if not bucket:
            msg = f"no bucket in {text!r}"
            raise ConfigError(key="source", reason=msg, hint="use `s3://bucket[/prefix]`")
        prefix = prefix.strip("/")
        return S3Source(
            bucket,
            f"{prefix}/" if prefix else "",
            endpoint_url=endpoint_url,
            anon=anon,
            max_concurrency=max_concurrency,
            max_attempts=max_attempts,
        )
    if "://" in text:
        scheme = text.split("://", 1)[0]
        msg = f"unsupported scheme {scheme!r}"
        hint = "use a local path or `s3://bucket[/prefix]`"
        raise ConfigError(key="source", reason=msg, hint=hint)
    path = Path(text).expanduser()
    if not path.exists():
        msg = f"{str(path)!r} does not exist"
        raise ConfigError(key="source", reason=msg)
    return LocalSource(path)
