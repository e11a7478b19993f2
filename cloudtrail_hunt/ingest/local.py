"""List and read CloudTrail objects from a local folder (or one file), in key order.

The local backend of the first ingest stage (**list** → decode → normalize → lake);
`sources.open_source` opens it for a path. `layout.py` decides which prefixes to list.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtrail_hunt.errors import IngestError, ObjectError
from cloudtrail_hunt.ingest._base import SourceObject, _anchor, _select
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

__all__ = ["LocalSource"]


class LocalSource:
    """A local folder (``aws s3 sync`` output, an export folder) or a single file.

    If the root holds an ``AWSLogs`` folder, or lies inside one, only the CloudTrail layout under
    it is walked, pruned by the request; files beside ``AWSLogs`` are ignored. Otherwise every
    regular file below the root is listed. Hidden entries (``.name``) are skipped; symlinked
    folders are not followed, and a symlinked file is listed only if it resolves inside the root.

    Parameters
    ----------
    path
        The folder or file; it is resolved to its real absolute path, which becomes `root`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = str(Path(path).resolve())
        self._single = Path(self.root).is_file()

    def __repr__(self) -> str:
        return f"LocalSource({self.root!r})"

    def close(self) -> None:
        """Release nothing; present so every source can be closed the same way."""

    def list_objects(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
    ) -> Iterator[SourceObject]:
        """Yield the local files of the requested days, accounts, regions and kinds, in key order.

        Raises
        ------
        ConfigError
            Invalid filter values (raised at the call, before any listing).
        IngestError
            A folder that must be listed cannot be read (while iterating).
        """
        request = ListingRequest.build(
            start=start, end=end, accounts=accounts, regions=regions, kinds=kinds
        )
        return self._list(request)

    def _list(self, request: ListingRequest) -> Iterator[SourceObject]:
        if self._single:
            single = Path(self.root)
            obj = self._object(single.name, self.root, single.stat())
            if _select(request, obj.info, layout=False):
                yield obj
            return
        anchor = _anchor(Path(self.root).parts)
        if anchor is not None and is_layout_anchor(anchor):
            leaves: Iterable[str] | None = walk_prefixes(
                self._dirs, request, base="", anchor=anchor
            )
        elif self._is_real_dir(LOGS_FOLDER):
            leaves = walk_prefixes(self._dirs, request, base=f"{LOGS_FOLDER}/")
        else:
            leaves = None
        if leaves is None:
            for key, path, st in self._files(""):
                obj = self._object(key, path, st)
                if _select(request, obj.info, layout=False):
                    yield obj
            return
        for leaf in leaves:
            for key, path, st in self._files(leaf):
                obj = self._object(key, path, st)
                if _select(request, obj.info, layout=True):
                    yield obj

    def _object(self, key: str, path: str, st: os.stat_result) -> SourceObject:
        # Parse the whole path, so a root inside an AWSLogs tree still yields account and day.
        info = parse_key(Path(path).as_posix())
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        return SourceObject(uri=path, key=key, size=st.st_size, etag=etag, info=info)

    def _path(self, prefix: str) -> str:
        return str(Path(self.root).joinpath(*(p for p in prefix.split("/") if p)))

    def _is_real_dir(self, name: str) -> bool:
        path = Path(self._path(name))
        return path.is_dir() and not path.is_symlink()

    def _scan(self, prefix: str) -> list[os.DirEntry[str]]:
        path = self._path(prefix)
        try:
            with os.scandir(path) as entries:
                # Dot-names are listed too: a forensic tool must not have a blind spot that an
                # attacker can choose by naming a file `.x`.
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []  # an exact day prefix that has no folder: nothing delivered that day
        except OSError as exc:
            msg = f"cannot list the folder: {exc.strerror or exc}"
            hint = "check its permissions; objects below it were not listed"
            raise IngestError(path, msg, hint) from exc

    def _dirs(self, prefix: str) -> list[str]:
        return [e.name for e in self._scan(prefix) if e.is_dir(follow_symlinks=False)]

    def _files(self, prefix: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """Depth-first, in key order: ``name/`` sorts where its contents' keys sort."""
        entries = []
        for entry in self._scan(prefix):
            is_dir = entry.is_dir(follow_symlinks=False)
            entries.append((entry.name + "/" if is_dir else entry.name, entry, is_dir))
        entries.sort(key=lambda item: item[0])
        for _, entry, is_dir in entries:
            key = prefix + entry.name
            if is_dir:
                yield from self._files(key + "/")
                continue
            st = self._stat(entry)
            if st is not None:
                yield key, entry.path, st

    def _stat(self, entry: os.DirEntry[str]) -> os.stat_result | None:
        """Stat a regular file; None for anything else or a symlink leading out of the root."""
        try:
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if not target.is_relative_to(self.root):
                    return None
                st = target.stat()
            else:
                st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed since the folder was read, or a dangling link
        except OSError as exc:
            msg = f"cannot stat the file: {exc.strerror or exc}"
            raise IngestError(entry.path, msg) from exc
        return st if stat.S_ISREG(st.st_mode) else None  # FIFOs would block a reader

    def fetch(
        self, objects: Iterable[SourceObject]
    ) -> Iterator[tuple[SourceObject, bytes | ObjectError]]:
        """Read each file; an unreadable one gives an `ObjectError` in its place, in input order."""
        for obj in objects:
            try:
                data = Path(obj.uri).read_bytes()
            except OSError as exc:
                reason = f"cannot read the file: {exc.strerror or exc}"
                yield obj, ObjectError(obj.uri, reason, "check that it exists and is readable")
                continue
            yield obj, data
