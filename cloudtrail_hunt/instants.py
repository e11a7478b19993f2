"""Reading a time given by a person: one parser and one message for every command and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cloudtrail_hunt.errors import ConfigError

HINT = "expected YYYY-MM-DD or an ISO 8601 time such as 2026-10-01T12:00:00Z (UTC)"


def parse_instant(text: str, key: str = "start") -> datetime:
    """`text` as an aware UTC datetime: a day is its midnight, a naive time is UTC.

    Raises
    ------
    ConfigError
        Naming `key` and the text, with the accepted forms.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(key, f"invalid date {text!r}", HINT) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def parse_day(text: str, key: str = "start") -> date:
    """The day of `text` (same forms and message as :func:`parse_instant`)."""
    return parse_instant(text, key).date()
