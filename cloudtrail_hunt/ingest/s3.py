"""List and fetch CloudTrail objects from an S3 prefix with boto3: concurrent, in order, retried.

The S3 backend of the first ingest stage (**list** → decode → normalize → lake);
`sources.open_source` opens it for an ``s3://`` URI. `layout.py` decides which prefixes to list.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from cloudtrail_hunt.errors import IngestError, ObjectError
from cloudtrail_hunt.ingest._base import SourceObject, _anchor, _ordered_map, _select
from cloudtrail_hunt.ingest.layout import (
    LOGS_FOLDER,
    Kind,
    ListingRequest,
    is_layout_anchor,
    parse_key,
    walk_prefixes,
)

if TYPE_CHECKING:
    from datetime import date

__all__ = ["S3Source"]

_R = TypeVar("_R")


def _split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → (``bucket``, ``a/b``)."""
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _body_errors() -> tuple[type[BaseException], ...]:
    """Failures while reading a response body, which boto3 does not retry (test-infra.md §1.3)."""
    from botocore.exceptions import (
        FlexibleChecksumError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from urllib3.exceptions import HTTPError as URLLib3Error

    return (
        ResponseStreamingError,
        IncompleteReadError,
        ReadTimeoutError,
        FlexibleChecksumError,
        URLLib3Error,
        ConnectionError,
    )


#: Error codes that mean "denied"; S3-compatible servers differ in which one they send.
_DENIED = frozenset(
    {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT = frozenset(
    {"SlowDown", "503", "500", "InternalError", "ServiceUnavailable", "RequestTimeout"}
    | {"Throttling", "ThrottlingException"}
)


class S3Source:
    """An S3 prefix read with boto3: delimited listings for the layout walk, concurrent GETs.

    Parameters
    ----------
    bucket, prefix
        Where the source starts; `prefix` is empty or ends with ``/``.
    endpoint_url
        An S3-compatible endpoint; None lets boto3 use ``AWS_ENDPOINT_URL_S3`` /
        ``AWS_ENDPOINT_URL`` or AWS itself.
    anon
        Send unsigned requests (public buckets only).
    max_concurrency
        Parallel GETs and connection pool size.
    max_attempts
        Total attempts per request, for boto3's own retries (throttling, 5xx, connection errors)
        and for ours (bodies cut short, which boto3 does not retry).

    Notes
    -----
    The boto3 client is made on first use and not pickled, so a source can be sent to a worker.
    """

    #: Backoff before retry n is uniform in [0, min(cap, base * 2**(n-1))] ("full jitter").
    backoff_base = 0.2
    backoff_cap = 10.0

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        anon: bool = False,
        max_concurrency: int = 16,
        max_attempts: int = 8,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.root = f"s3://{bucket}/{prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self.anon = anon
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Source({self.root!r}, endpoint_url={self.endpoint_url!r}, anon={self.anon!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(
            # "total_max_attempts" counts the first try; "max_attempts" would count retries only.
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            max_pool_connections=self.max_concurrency,
            # Path style works with every S3-compatible server and with dotted bucket names.
            s3={"addressing_style": "path"},
            signature_version=UNSIGNED if self.anon else None,
        )
        session = boto3.session.Session()
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def close(self) -> None:
        """Close the client's connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> S3Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors and retries -------------------------------------------------------------

    def _sleep_before_retry(self, attempt: int) -> None:
        cap = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        time.sleep(random.uniform(0, cap))  # noqa: S311 (jitter, not cryptography)

    def _describe(self, exc: BaseException) -> tuple[str, str | None]:
        """A reason and a hint for a failure boto3 has already retried as far as it would."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(error.get("Code") or status or "error")
            message = error.get("Message") or ""
            if code in _MISSING:
                return f"no such object ({code})", "it was removed after listing; list again"
            if code in _DENIED:
                if self.anon:
                    hint = "unsigned requests (`anon=True`) work only on public buckets"
                else:
                    hint = "check the credentials and the bucket policy"
                    hint += " (s3:ListBucket, s3:GetObject)"
                return f"access denied ({code})", hint
            if code == "NoSuchBucket":
                return f"no such bucket {self.bucket!r} (NoSuchBucket)", "check the bucket name"
            if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
                reason = f"{code} on all {self.max_attempts} attempts"
                return reason, "the service is throttling or failing; rerun later"
            return (f"{code}: {message}" if message else code), None
        if isinstance(exc, NoCredentialsError):
            hint = "configure AWS credentials, or pass `anon=True` for a public bucket"
            return "no AWS credentials found", hint
        if isinstance(exc, EndpointConnectionError):
            return f"cannot connect: {exc}", "check `endpoint_url` and the network"
        return f"{type(exc).__name__}: {exc}", None

    def _call(self, where: str, fn: Callable[[], _R]) -> _R:
        """Run one listing request; retry bodies cut short; raise IngestError when it fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        body_errors = _body_errors()
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except body_errors as exc:
                if attempt == self.max_attempts:
                    reason = f"listing failed on all {attempt} attempts ({type(exc).__name__})"
                    raise IngestError(where, reason, "rerun later") from exc
                self._sleep_before_retry(attempt)
            except (ClientError, BotoCoreError) as exc:
                reason, hint = self._describe(exc)
                raise IngestError(where, f"cannot list: {reason}", hint) from exc
        raise AssertionError  # pragma: no cover (the loop always returns or raises)

    # --- listing ------------------------------------------------------------------------

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        where = f"s3://{self.bucket}/{prefix}"
        while True:
            # Our own loop over continuation tokens, so a page can be retried on its own.
            page: dict[str, Any] = self._call(where, partial(self.client.list_objects_v2, **kwargs))
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def _dirs(self, prefix: str) -> list[str]:
        full = self.prefix + prefix
        names = []
        for page in self._pages(full, "/"):
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(full) :].rstrip("/")
                if name and "/" not in name:
                    names.append(name)
        return names

    def _objects(self, prefix: str, *, layout: bool, request: ListingRequest) -> list[SourceObject]:
        found = []
        for page in self._pages(self.prefix + prefix, None):
            for item in page.get("Contents", ()):
                full_key: str = item["Key"]
                key = full_key[len(self.prefix) :]
                if not key or key.endswith("/"):
                    continue  # folder markers
                obj = SourceObject(
                    uri=f"s3://{self.bucket}/{full_key}",
                    key=key,
                    size=int(item.get("Size", 0)),
                    etag=str(item.get("ETag", "")).strip('"'),
                    info=parse_key(full_key),
                )
                if _select(request, obj.info, layout=layout):
                    found.append(obj)
        # S3 lists in UTF-8 binary order, which is code point order; sort anyway, since not
        # every S3-compatible server promises it. A leaf holds at most a month of one region.
        found.sort(key=lambda o: o.key)
        return found

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the objects of the requested days, accounts, regions and kinds, in key order.

        Raises
        ------
        ConfigError
            Invalid filter values (raised at the call, before any request).
        IngestError
            A listing request failed after its retries (while iterating).
        """
        request = ListingRequest.build(
            start=start, end=end, accounts=accounts, regions=regions, kinds=kinds
        )
        return self._list(request)

    def _list(self, request: ListingRequest) -> Iterator[SourceObject]:
        anchor = _anchor(self.prefix.split("/"))
        if anchor is not None and is_layout_anchor(anchor):
            leaves: Iterable[str] = walk_prefixes(self._dirs, request, base="", anchor=anchor)
        else:
            top = f"{LOGS_FOLDER}/"
            first = self._dirs(top)
            if not first:
                # No AWSLogs tree here: a folder of exported files, listed whole.
                yield from self._objects("", layout=False, request=request)
                return
            cache = {top: first}

            def dirs(prefix: str) -> list[str]:
                return cache.pop(prefix) if prefix in cache else self._dirs(prefix)

            leaves = walk_prefixes(dirs, request, base=top)
        for leaf in leaves:
            yield from self._objects(leaf, layout=True, request=request)

    # --- fetching -----------------------------------------------------------------------

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Download objects concurrently; yield each with its bytes or an `ObjectError`, in order.

        At most ``2 * max_concurrency`` objects are in flight or waiting to be consumed, so
        memory stays bounded however many objects are asked for.
        """
        return _ordered_map(self._fetch_one, objects, self.max_concurrency)

    def _fetch_one(self, obj: SourceObject) -> bytes | ObjectError:
        try:
            return self._get(obj)
        except Exception as exc:  # noqa: BLE001 (the contract: report, never raise, never drop)
            return ObjectError(obj.uri, f"unexpected {type(exc).__name__}: {exc}")

    def _get(self, obj: SourceObject) -> bytes | ObjectError:
        from botocore.exceptions import BotoCoreError, ClientError

        if not obj.uri.startswith("s3://"):
            hint = "fetch it from the source that listed it"
            return ObjectError(obj.uri, "not an S3 object", hint)
        bucket, key = _split_s3(obj.uri)
        body_errors = _body_errors()
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.client.get_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                # boto3 has already retried throttling, 5xx and connection errors.
                reason, why = self._describe(exc)
                return ObjectError(obj.uri, reason, why)
            body = response["Body"]
            try:
                # StreamingBody.read() checks the length against Content-Length, so a body cut
                # short raises instead of returning fewer bytes.
                return body.read()  # type: ignore[no-any-return]
            except body_errors as exc:
                last = exc
                if attempt < self.max_attempts:
                    self._sleep_before_retry(attempt)
            finally:
                body.close()
        reason = (
            f"the body was cut short on all {self.max_attempts} attempts "
            f"({type(last).__name__}: {last})"
        )
        return ObjectError(obj.uri, reason, "the connection keeps dropping; rerun later")
