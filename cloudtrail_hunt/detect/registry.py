"""Finds the rule pack: the `detections` package shipped with us, or a user's folder of modules.

Each module defines one `DETECTION`; its id must match the file name
(`aws-iam-01-root-mfa` ↔ `aws_iam_01_root_mfa.py`) and be unique.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType

from cloudtrail_hunt.detect.model import Detection
from cloudtrail_hunt.errors import DetectionError


def _module_name(detection_id: str) -> str:
    return detection_id.replace("-", "_")


def _check(module: ModuleType, name: str) -> Detection:
    detection = getattr(module, "DETECTION", None)
    if not isinstance(detection, Detection):
        raise DetectionError(name, "the module defines no `DETECTION`")
    if _module_name(detection.id) != name:
        msg = f"the id does not match the file name {name}.py"
        raise DetectionError(detection.id, msg)
    return detection


def load(folder: str | Path | None = None) -> list[Detection]:
    """Every detection of the pack (or of `folder`), sorted by id."""
    found: dict[str, Detection] = {}
    if folder is None:
        import detections

        names = [
            m.name for m in pkgutil.iter_modules(detections.__path__) if m.name.startswith("aws_")
        ]
        modules = [(n, importlib.import_module(f"detections.{n}")) for n in names]
    else:
        modules = []
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            spec = importlib.util.spec_from_file_location(f"user_detections.{path.stem}", path)
            if spec is None or spec.loader is None:
                raise DetectionError(path.stem, f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules.append((path.stem, module))
    for name, module in modules:
        detection = _check(module, name)
        if detection.id in found:
            raise DetectionError(detection.id, "defined twice")
        found[detection.id] = detection
    return [found[k] for k in sorted(found)]


def select(pack: list[Detection], wanted: list[str] | None) -> list[Detection]:
    """The detections named in `wanted` (ids or their `aws-iam-NN` prefix), or all of them."""
    if not wanted:
        return pack
    chosen = []
    for name in wanted:
        matches = [d for d in pack if d.id == name or d.id.startswith(name + "-")]
        if not matches:
            import difflib

            close = difflib.get_close_matches(name, [d.id for d in pack], n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
            raise DetectionError(name, "no such detection", hint)
        chosen += matches
    return chosen
