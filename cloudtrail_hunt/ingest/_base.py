"""What both source backends share: the listed-object record, where a walk starts, ordered fetch.

Part of the first ingest stage (**list** → decode → normalize → lake). `local.py` and `s3.py`
build on this module and `sources.py` re-exports `SourceObject`, so importing a backend never
imports `sources.py` (which imports the backends) and there is no cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cloudtrail_hunt.ingest.layout import LOGS_FOLDER, KeyInfo, ListingRequest

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["SourceObject"]

_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class SourceObject:
    """One listed object: where it is, what it is called relative to the source, and its version.

    Attributes
    ----------
    uri
        ``s3://bucket/key`` or the absolute local path.
    key
        The path relative to the source root, ``/``-separated; what provenance shows.
    size
        Size in bytes at listing time.
    etag
        The S3 ETag without quotes; for a local file ``f"{mtime_ns:x}-{size:x}"``.
    info
        What the key says in the CloudTrail layout (org, account, region, day, kind).
    """

    uri: str
    key: str
    size: int
    etag: str
    info: KeyInfo


# --------------------------------------------------------------------------------------------
# Where the layout walk starts
# --------------------------------------------------------------------------------------------


def _anchor(parts: Iterable[str]) -> tuple[str, ...] | None:
    """Segments below the last ``AWSLogs`` segment of a root path, or None if it has none."""
    seq = list(parts)
    if LOGS_FOLDER not in seq:
        return None
    last = len(seq) - 1 - seq[::-1].index(LOGS_FOLDER)
    return tuple(s for s in seq[last + 1 :] if s)


def _select(request: ListingRequest, info: KeyInfo, *, layout: bool) -> bool:
    # In a layout walk only parsed keys count; in a plain folder (exports, the corpus) every file
    # is listed and the filters apply only to the keys that parse.
    if info.kind == "unknown":
        return not layout
    return request.matches(info)


# --------------------------------------------------------------------------------------------
# Ordered, bounded fetching
# --------------------------------------------------------------------------------------------


def _ordered_map(
    fn: Callable[[_T], _R], items: Iterable[_T], workers: int
) -> Iterator[tuple[_T, _R]]:
    """Apply `fn` on a thread pool, yielding ``(item, result)`` in input order.

    The window of submitted-but-not-yielded items is ``2 * workers``: enough to keep every
    worker busy while the consumer handles one result, small enough to bound memory.
    """
    from concurrent.futures import ThreadPoolExecutor

    window = 2 * workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudtrail-fetch")
    pending: deque[tuple[_T, Future[_R]]] = deque()
    try:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= window:
                done_item, future = pending.popleft()
                yield done_item, future.result()
        while pending:
            done_item, future = pending.popleft()
            yield done_item, future.result()
    finally:
        # If the consumer stops early, drop what has not started and wait for what has.
        pool.shutdown(wait=True, cancel_futures=True)
