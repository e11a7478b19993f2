"""Builders of realistic CloudTrail records: ids, times, API calls, console sign-ins."""

from __future__ import annotations

import calendar
import random
import time
from datetime import date
from typing import Any

from cloudtrail_hunt.synth.shapes import (
    assumed_role_identity,
    iam_user_identity,
    root_identity,
    saml_identity,
    service_identity,
    web_identity,
)

__all__ = [
    "Ids",
    "api_call",
    "assumed_role_identity",
    "aws_date",
    "console_login",
    "credentials",
    "epoch",
    "host_for",
    "iam_user_identity",
    "iso",
    "iso_offset",
    "root_identity",
    "saml_identity",
    "service_identity",
    "tls",
    "web_identity",
]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64 = _ALNUM + "+/"
#: Services whose endpoint is global: CloudTrail logs them in us-east-1.
GLOBAL_SOURCES = frozenset(
    {"iam.amazonaws.com", "signin.amazonaws.com", "organizations.amazonaws.com"}
)
TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")


class Ids:
    """Random identifiers drawn from one seeded RNG, so a run is reproducible.

    Parameters
    ----------
    rng
        The `random.Random` every identifier is drawn from.
    """

    __slots__ = ("rng",)

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        """A version-4 UUID string (eventID, requestID, sharedEventID)."""
        # Force the version (4) and variant (10xx) bits of RFC 4122 into 128 random bits.
        h = "%032x" % (
            self.rng.getrandbits(128) & 0xFFFFFFFFFFFF0FFF3FFFFFFFFFFFFFFF
            | 0x00000000000040008000000000000000
        )
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def hex(self, n: int) -> str:
        """`n` lowercase hex digits."""
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def b32(self, n: int) -> str:
        """`n` characters of the A-Z2-7 alphabet IAM uses for ids and key ids."""
        return "".join(self.rng.choices(_B32, k=n))

    def key_id(self, prefix: str = "ASIA") -> str:
        """An access-key id: AKIA (long-lived) or ASIA (session) and 16 characters."""
        return prefix + self.b32(16)

    def unique_id(self, prefix: str) -> str:
        """An IAM unique id (AIDA user, AROA role) of 21 characters."""
        return prefix + self.b32(17)

    def alnum(self, n: int) -> str:
        """`n` mixed-case letters and digits (the suffix of a log file name)."""
        return "".join(self.rng.choices(_ALNUM, k=n))

    def b64(self, n: int) -> str:
        """`n` base64 characters (session tokens, x-amz-id-2)."""
        return "".join(self.rng.choices(_B64, k=n))

    def s3_request_id(self) -> str:
        """S3 request ids are 16 upper-case characters, not UUIDs."""
        return f"{self.rng.getrandbits(64):016X}"

    def digits(self, n: int) -> str:
        """`n` decimal digits, the first one non-zero."""
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choices("0123456789", k=n - 1))


def epoch(d: date) -> int:
    """Seconds since the epoch of midnight UTC on `d` (no clock read)."""
    return calendar.timegm(d.timetuple())


def iso(t: int) -> str:
    """CloudTrail's eventTime spelling: ``2026-10-01T12:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def iso_offset(t: int) -> str:
    """The credential report's spelling: ``2026-10-01T12:00:00+00:00``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


def aws_date(t: int) -> str:
    """The Java-style date IAM and STS put in responseElements: ``Nov 1, 2026, 2:38:11 AM``."""
    g = time.gmtime(t)
    h12 = g.tm_hour % 12 or 12
    ampm = "AM" if g.tm_hour < 12 else "PM"
    day = f"{MONTHS[g.tm_mon - 1]} {g.tm_mday}, {g.tm_year}"
    return f"{day}, {h12}:{g.tm_min:02d}:{g.tm_sec:02d} {ampm}"


def tls(host: str) -> dict[str, str]:
    """The tlsDetails block of a call made over TLS 1.3 to `host`."""
    return {"tlsVersion": TLS13[0], "cipherSuite": TLS13[1], "clientProvidedHostHeader": host}


def host_for(source: str, region: str) -> str:
    """The endpoint host a client sends for `source` in `region`."""
    svc = source.split(".", 1)[0]
    if source in GLOBAL_SOURCES:
        return "signin.aws.amazon.com" if svc == "signin" else f"{svc}.amazonaws.com"
    return f"{svc}.{region}.amazonaws.com"


# --- whole records -------------------------------------------------------------------------------


def api_call(
    ids: Ids,
    *,
    identity: dict[str, Any],
    t: int,
    source: str,
    name: str,
    region: str,
    account: str,
    ip: str,
    ua: str,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    additional: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
    read_only: bool = False,
    resources: list[dict[str, str]] | None = None,
    event_type: str = "AwsApiCall",
    version: str = "1.09",
    tls_host: str | None = "auto",
    shared: bool = False,
    console: bool = False,
    request_id: str | None = "uuid",
) -> dict[str, Any]:
    """One management-event record, keys in the order CloudTrail writes them.

    Parameters
    ----------
    ids
        Source of eventID / requestID values.
    identity
        The userIdentity block.
    t
        Event time, seconds since the epoch.
    source, name, region, account
        eventSource, eventName, awsRegion and recipientAccountId.
    ip, ua
        sourceIPAddress and userAgent.
    error
        ``(errorCode, errorMessage)`` for a failed call.
    tls_host
        ``"auto"`` derives the endpoint host; None omits tlsDetails (service-invoked calls).
    shared
        Add a sharedEventID (the event is also delivered to another account).
    console
        The call came from a console session (``sessionCredentialFromConsole``).
    request_id
        ``"uuid"``, ``"s3"`` or None (no requestID, as for sign-in events).

    Returns
    -------
    dict
        The record.
    """
    rec: dict[str, Any] = {
        "eventVersion": version,
        "userIdentity": identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error is not None:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = request
    rec["responseElements"] = response
    if additional is not None:
        rec["additionalEventData"] = additional
    if request_id == "uuid":
        rec["requestID"] = ids.uuid()
    elif request_id == "s3":
        rec["requestID"] = ids.s3_request_id()
    rec["eventID"] = ids.uuid()
    rec["readOnly"] = read_only
    if resources is not None:
        rec["resources"] = resources
    rec["eventType"] = event_type
    rec["managementEvent"] = True
    rec["recipientAccountId"] = account
    if shared:
        rec["sharedEventID"] = ids.uuid()
    rec["eventCategory"] = "Management"
    if tls_host is not None:
        rec["tlsDetails"] = tls(host_for(source, region) if tls_host == "auto" else tls_host)
    if console:
        rec["sessionCredentialFromConsole"] = "true"
    return rec


def console_login(
    ids: Ids,
    *,
    identity: dict[str, Any],
    t: int,
    account: str,
    ip: str,
    ua: str,
    mfa_used: str,
    success: bool = True,
    mfa_identifier: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """A signin ConsoleLogin record (eventType AwsConsoleSignIn, no requestID).

    Parameters
    ----------
    mfa_used
        additionalEventData.MFAUsed, ``"Yes"`` or ``"No"``.
    mfa_identifier
        additionalEventData.MFAIdentifier (the device ARN) when MFA was used.
    """
    additional: dict[str, str] = {
        "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_c63b2c2b8a9b7a8e",
        "MobileVersion": "No",
    }
    if mfa_identifier is not None:
        additional["MFAIdentifier"] = mfa_identifier
    additional["MFAUsed"] = mfa_used
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": iso(t),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if not success:
        rec["errorMessage"] = "Failed authentication"
    rec["requestParameters"] = None
    rec["responseElements"] = {"ConsoleLogin": "Success" if success else "Failure"}
    rec["additionalEventData"] = additional
    rec["eventID"] = ids.uuid()
    rec["readOnly"] = False
    rec["eventType"] = "AwsConsoleSignIn"
    rec["managementEvent"] = True
    rec["recipientAccountId"] = account
    rec["eventCategory"] = "Management"
    rec["tlsDetails"] = tls("signin.aws.amazon.com")
    return rec


def credentials(ids: Ids, t: int, token: str, hours: int = 1) -> dict[str, str]:
    """The credentials block STS returns (a fresh ASIA key expiring after `hours`)."""
    return {
        "accessKeyId": ids.key_id("ASIA"),
        "sessionToken": token,
        "expiration": aws_date(t + 3600 * hours),
    }
