"""Every exception cloudtrail-hunt raises or reports, one hierarchy rooted at CloudTrailHuntError.

Errors are data first (STYLE.md §6): the location and the facts are attributes, and `str()` is
built from them in the shape ``<where>: <what is wrong>[; <what was expected or what to do>]``.
Every string that goes into the text is escaped with `escape_for_terminal`, and values read from
logs are also cut to 80 characters, so an ANSI sequence in a log never reaches a terminal. Every
class pickles by its constructor arguments, so errors cross dask worker boundaries intact.

Hierarchy::

    CloudTrailHuntError
    ├── IngestError
    │   ├── ObjectError          one source object could not be listed, fetched or read
    │   └── RecordError          one record inside an object is invalid
    ├── QueryError
    │   ├── QuerySyntaxError
    │   ├── QueryFieldError
    │   └── QueryUnsupportedError
    ├── DetectionError
    ├── ConfigError (also a ValueError)
    └── LakeError
"""

from __future__ import annotations

from typing import Any, ClassVar

from cloudtrail_hunt.escape import escape_for_terminal

__all__ = [
    "LOG_VALUE_LIMIT",
    "CloudTrailHuntError",
    "ConfigError",
    "DetectionError",
    "IngestError",
    "LakeError",
    "ObjectError",
    "QueryError",
    "QueryFieldError",
    "QuerySyntaxError",
    "QueryUnsupportedError",
    "RecordError",
    "log_value",
]

#: Values read from logs are cut to this many characters in messages (STYLE.md §6).
LOG_VALUE_LIMIT = 80


def log_value(value: object) -> str:
    r"""Quote a value read from a log for a message: escaped, cut to 80 characters, repr-quoted.

    Examples
    --------
    >>> print(log_value("Mozilla\x1b[2J"))
    'Mozilla\x1b[2J'
    >>> print(log_value("it's"))
    "it's"
    """
    text = escape_for_terminal(str(value), LOG_VALUE_LIMIT)
    # Quote the way repr does, without repr's second round of backslash escaping.
    if "'" in text and '"' not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "\\'") + "'"


def _text(value: str) -> str:
    """Escape text we compose or a location (object keys may be long: escape, don't cut)."""
    return escape_for_terminal(value, None)


def _rebuild(cls: type[CloudTrailHuntError], kwargs: dict[str, Any]) -> CloudTrailHuntError:
    """Unpickle an error by calling its constructor with the saved arguments."""
    return cls(**kwargs)


class CloudTrailHuntError(Exception):
    """Base class of every error cloudtrail-hunt raises; raised as is only for generic failures.

    Parameters
    ----------
    where
        The location: an object key, ``query line 2, column 14``, ``detection <id>``, ….
    what
        What is wrong, lowercase, no trailing period.
    hint
        What was expected or what to do, if anything useful can be said.
    """

    #: Constructor parameter names, in order; `__reduce__` and `__repr__` use them.
    _fields: ClassVar[tuple[str, ...]] = ("where", "what", "hint")

    def __init__(self, where: str, what: str, hint: str | None = None) -> None:
        self.where = where
        self.what = what
        self.hint = hint
        super().__init__(where, what, hint)

    # Subclasses override these three instead of __str__, so the shape stays the same everywhere.
    def _where(self) -> str:
        return _text(self.where)

    def _what(self) -> str:
        return _text(self.what)

    def _hint(self) -> str | None:
        return None if self.hint is None else _text(self.hint)

    def __str__(self) -> str:
        text = f"{self._where()}: {self._what()}"
        hint = self._hint()
        return text if hint is None else f"{text}; {hint}"

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({args})"

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles `self.args`, which would not match keyword-style constructors;
        # rebuild from the named attributes instead, and keep extra state such as __notes__.
        kwargs = {name: getattr(self, name) for name in self._fields}
        state = {k: v for k, v in self.__dict__.items() if k not in kwargs}
        return (_rebuild, (type(self), kwargs), state or None)


class IngestError(CloudTrailHuntError):
    """Raised or reported when ingest cannot list, read or store its input.

    Parameters
    ----------
    source
        The object URI or key (or the listed prefix) the problem is about.
    reason
        What went wrong.
    hint
        What to do about it.
    """

    _fields: ClassVar[tuple[str, ...]] = ("source", "reason", "hint")

    def __init__(self, source: str, reason: str, hint: str | None = None) -> None:
        self.source = source
        self.reason = reason
        self.hint = hint
        Exception.__init__(self, source, reason, hint)

    @property
    def where(self) -> str:  # type: ignore[override]
        return self.source

    @property
    def what(self) -> str:  # type: ignore[override]
        return self.reason


class ObjectError(IngestError):
    """Reported (as a value, not raised) when one source object cannot be fetched or read.

    Examples: the object vanished after listing (`NoSuchKey`), access was denied, or its body kept
    arriving truncated until the retries ran out. The other objects of the same run still load.
    """


class RecordError(IngestError):
    """Reported when one record of an object is invalid; the valid records of the object are kept.

    Parameters
    ----------
    source
        The object URI or key.
    index
        The record's position in the object, from 0.
    reason
        What is wrong, e.g. ``invalid eventTime``.
    value
        The offending value as read from the log, if any; shown quoted, escaped and cut to
        80 characters after `reason`.
    hint
        What was expected.
    """

    _fields: ClassVar[tuple[str, ...]] = ("source", "index", "reason", "value", "hint")

    def __init__(
        self,
        source: str,
        index: int,
        reason: str,
        value: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.index = index
        self.reason = reason
        self.value = value
        self.hint = hint
        Exception.__init__(self, source, index, reason, value, hint)

    def _where(self) -> str:
        return f"{_text(self.source)}: record {self.index}"

    def _what(self) -> str:
        what = _text(self.reason)
        return what if self.value is None else f"{what} {log_value(self.value)}"


def _query_where(line: int | None, column: int | None) -> str:
    if line is None:
        return "query"
    if column is None:
        return f"query line {line}"
    return f"query line {line}, column {column}"


class QueryError(CloudTrailHuntError):
    """Raised when a Logs Insights query cannot be parsed, resolved or compiled.

    Parameters
    ----------
    reason
        What is wrong.
    line, column
        Position in the query text, from 1, when known.
    hint
        What was expected or what to do.
    """

    _fields: ClassVar[tuple[str, ...]] = ("reason", "line", "column", "hint")

    def __init__(
        self,
        reason: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.hint = hint
        Exception.__init__(self, reason, line, column, hint)

    @property
    def where(self) -> str:  # type: ignore[override]
        return _query_where(self.line, self.column)

    @property
    def what(self) -> str:  # type: ignore[override]
        return self.reason

    def _where(self) -> str:
        return self.where


class QuerySyntaxError(QueryError):
    """Raised when the query text does not parse.

    Parameters
    ----------
    reason
        What was found, e.g. ``unexpected token '|'``.
    line, column
        Position of the bad token, from 1.
    hint
        What was expected, e.g. ``expected a field name``.
    context
        The query line and a caret line under the bad token, shown below the message.
    """

    _fields: ClassVar[tuple[str, ...]] = ("reason", "line", "column", "hint", "context")

    def __init__(
        self,
        reason: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        context: str | None = None,
    ) -> None:
        super().__init__(reason, line, column, hint)
        self.context = context
        Exception.__init__(self, reason, line, column, hint, context)

    def __str__(self) -> str:
        text = super().__str__()
        if not self.context:
            return text
        # Escape line by line so the caret line still sits under the query line.
        lines = "\n".join(_text(line) for line in self.context.split("\n"))
        return f"{text}\n{lines}"


class QueryFieldError(QueryError):
    """Raised when a query names a field that does not exist or cannot be used there.

    Parameters
    ----------
    field
        The field as written in the query.
    line, column
        Position of the field in the query, from 1.
    suggestion
        The closest known field, shown as ``did you mean …?``.
    reason
        What is wrong with it; ``unknown field`` by default.
    """

    _fields: ClassVar[tuple[str, ...]] = ("field", "line", "column", "suggestion", "reason")

    def __init__(
        self,
        field: str,
        line: int | None = None,
        column: int | None = None,
        suggestion: str | None = None,
        reason: str = "unknown field",
    ) -> None:
        hint = None if suggestion is None else f"did you mean {suggestion!r}?"
        super().__init__(reason, line, column, hint)
        self.field = field
        self.suggestion = suggestion
        Exception.__init__(self, field, line, column, suggestion, reason)

    def _what(self) -> str:
        return f"{_text(self.reason)} {_text(repr(self.field))}"


class QueryUnsupportedError(QueryError):
    """Raised when the query uses a construct the compiler does not translate (it never guesses).

    Parameters
    ----------
    construct
        The construct, as the user wrote it or as its IR node name (``parse … as``, ``Regex``).
    line, column
        Position in the query, from 1.
    hint
        An alternative, if there is one.
    """

    _fields: ClassVar[tuple[str, ...]] = ("construct", "line", "column", "hint")

    def __init__(
        self,
        construct: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(f"`{construct}` is not supported", line, column, hint)
        self.construct = construct
        Exception.__init__(self, construct, line, column, hint)


class DetectionError(CloudTrailHuntError):
    """Raised when a detection is invalid or fails to run; detections fail fast.

    Parameters
    ----------
    detection
        The detection id, e.g. ``aws-iam-05-key-rotation`` (optionally ``<id>/<signal>``).
    reason
        What is wrong.
    hint
        What to do.
    """

    _fields: ClassVar[tuple[str, ...]] = ("detection", "reason", "hint")

    def __init__(self, detection: str, reason: str, hint: str | None = None) -> None:
        self.detection = detection
        self.reason = reason
        self.hint = hint
        Exception.__init__(self, detection, reason, hint)

    @property
    def where(self) -> str:  # type: ignore[override]
        return f"detection {self.detection}"

    @property
    def what(self) -> str:  # type: ignore[override]
        return self.reason


class ConfigError(CloudTrailHuntError, ValueError):
    """Raised for an invalid setting or argument (a usage error: the CLI exits with code 2).

    Parameters
    ----------
    key
        The setting, e.g. ``detections."aws-iam-01-root-mfa".window``, or the argument name.
    reason
        What is wrong with its value.
    hint
        The valid choices or the closest known key.
    file
        The file the setting came from, e.g. ``cloudtrail_hunt.toml``, if any.
    """

    _fields: ClassVar[tuple[str, ...]] = ("key", "reason", "hint", "file")

    def __init__(
        self, key: str, reason: str, hint: str | None = None, file: str | None = None
    ) -> None:
        self.key = key
        self.reason = reason
        self.hint = hint
        self.file = file
        Exception.__init__(self, key, reason, hint, file)

    @property
    def where(self) -> str:  # type: ignore[override]
        return self.key if self.file is None else f"{self.file}: {self.key}"

    @property
    def what(self) -> str:  # type: ignore[override]
        return self.reason


class LakeError(CloudTrailHuntError):
    """Raised when the lake or its ledger cannot be read or written consistently.

    Parameters
    ----------
    path
        The lake path or file concerned.
    reason
        What is wrong.
    hint
        What to do, e.g. how to resume.
    """

    _fields: ClassVar[tuple[str, ...]] = ("path", "reason", "hint")

    def __init__(self, path: str, reason: str, hint: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.hint = hint
        Exception.__init__(self, path, reason, hint)

    @property
    def where(self) -> str:  # type: ignore[override]
        return self.path

    @property
    def what(self) -> str:  # type: ignore[override]
        return self.reason
