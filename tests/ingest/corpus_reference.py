"""An independent, stdlib-only reader of the corpus: what each file holds, unit by unit.

It shares no code with `cloudtrail_hunt.ingest`, so the ingest tests compare two readings of the
same bytes rather than the ingest with itself.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

DIGEST_KEYS = {"digestStartTime", "digestEndTime", "digestS3Object"}


def read_units(path: Path) -> tuple[list[Any], bool] | None:
    """Return (units, is_digest) for a JSON-ish file, or None when it is not JSON at all.

    A unit is the JSON value at one record position (None where the text is not valid JSON).
    """
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    try:
        top = json.loads(text)
    except json.JSONDecodeError:
        lines = [line for line in text.split("\n") if line.strip()]
        try:
            json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            return None
        units: list[Any] = []
        for line in lines:
            try:
                units.extend(_expand(json.loads(line)))
            except json.JSONDecodeError:
                units.append(None)
        return units, False
    if isinstance(top, dict) and top.keys() >= DIGEST_KEYS:
        return [], True
    return _expand(top), False


def _expand(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        return value["Records"]
    return [value]


def record_of(unit: Any) -> Any:
    """The CloudTrail record inside a unit: EventBridge `detail`, LookupEvents `CloudTrailEvent`."""
    if isinstance(unit, dict) and "detail" in unit and "detail-type" in unit:
        return unit["detail"]
    if isinstance(unit, dict) and isinstance(unit.get("CloudTrailEvent"), str):
        return json.loads(unit["CloudTrailEvent"])
    return unit
