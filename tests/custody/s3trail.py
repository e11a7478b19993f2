"""Upload a generated trail to the S3 test server as CloudTrail delivers it: digests carry their
signature in the object metadata (``x-amz-meta-signature``, ``x-amz-meta-signature-algorithm``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.custody.builder import Trail


def upload_trail(client: Any, bucket: str, trail: Trail, *, prefix: str = "") -> None:
    def put(path: str) -> None:
        body = (trail.root / path).read_bytes()
        extra: dict[str, Any] = {}
        if path in trail.signatures:
            extra["Metadata"] = {
                "signature": trail.signatures[path],
                "signature-algorithm": "SHA256withRSA",
            }
        client.put_object(Bucket=bucket, Key=prefix + path, Body=body, **extra)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [*trail.logs, *trail.digests]))
