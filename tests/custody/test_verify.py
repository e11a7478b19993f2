"""verify_source on generated trails: a clean trail verifies; every kind of tampering is named."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtrail_hunt.custody import (
    DigestStatus,
    FileStatus,
    Proof,
    VerifyReport,
    load_public_keys,
    load_signatures,
    verify_source,
)
from cloudtrail_hunt.custody.signer import (
    DigestChainWriter,
    list_public_keys_document,
    synthetic_key,
)
from cloudtrail_hunt.ingest.sources import open_source
from tests.custody.builder import BUCKET, HOME, ORG, START, TRAIL, Trail, build_trail


def run(trail: Trail, **kwargs: object) -> VerifyReport:
    keys = load_public_keys([trail.keys_file])
    signatures = load_signatures([trail.signatures_file])
    return verify_source(open_source(trail.root), keys, signatures=signatures, **kwargs)


def digest_rows(report: VerifyReport) -> dict[str, tuple[DigestStatus, str | None]]:
    return {d.key: (d.status, d.end) for d in report.digests}


def file_rows(report: VerifyReport) -> dict[str, FileStatus]:
    return {f.key: f.status for f in report.files}


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    return build_trail(tmp_path / "trail")


def _regzip(path: Path, change) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes())), mtime=0))


def test_a_clean_trail_verifies_with_every_proof_named(trail: Trail) -> None:
    report = run(trail)
    assert report.ok, report.problems()
    assert file_rows(report) == dict.fromkeys(trail.logs, FileStatus.VALID)
    assert set(digest_rows(report)) == set(trail.digests)
    newest = {
        json.loads(trail.signatures_file.read_text())["signatures"][i]["s3Object"] for i in range(4)
    }
    proofs = {d.key: d.proof for d in report.digests}
    assert {k for k, p in proofs.items() if p == Proof.SIGNATURE_FILE} == newest
    assert {k for k, p in proofs.items() if p == Proof.CHAIN} == set(trail.digests) - newest
    # Every stream is covered from its first digest's start to its last digest's end.
    for stream in report.streams():
        assert stream["covered"] == [["2026-03-01T22:07:00Z", "2026-03-02T02:07:00Z"]]


def test_a_changed_byte_in_a_log_file_is_reported_with_its_hour(trail: Trail) -> None:
    target = trail.logs[5]
    _regzip(trail.root / target, lambda raw: raw.replace(b"ListUsers", b"ListUserz"))
    report = run(trail)
    assert not report.ok
    [bad] = [f for f in report.files if f.status != FileStatus.VALID]
    assert (bad.key, bad.status) == (target, FileStatus.MODIFIED)
    assert (bad.hour_start, bad.hour_end) == trail.hour_of[target]
    assert all(d.status == DigestStatus.VALID for d in report.digests)


def test_a_changed_byte_in_the_gzip_stream_is_a_modified_file(trail: Trail) -> None:
    target = trail.root / trail.logs[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    assert file_rows(run(trail))[trail.logs[0]] == FileStatus.MODIFIED


def test_a_gunzipped_copy_still_verifies(trail: Trail) -> None:
    # CloudTrail hashes the uncompressed content, so decompressing a copy loses no proof.
    target = trail.root / trail.logs[3]
    target.write_bytes(gzip.decompress(target.read_bytes()))
    assert run(trail).ok


def test_a_deleted_log_file_is_missing_with_its_hour(trail: Trail) -> None:
    target = trail.logs[7]
    (trail.root / target).unlink()
    report = run(trail)
    [bad] = [f for f in report.files if f.status != FileStatus.VALID]
    assert (bad.key, bad.status, bad.uri) == (target, FileStatus.MISSING, None)
    assert (bad.hour_start, bad.hour_end) == trail.hour_of[target]


def test_an_extra_log_file_is_unlisted_with_its_hour(trail: Trail) -> None:
    model = trail.root / trail.logs[2]
    extra = model.with_name(model.name.replace("abcdefgh", "INSERTED"))
    shutil.copyfile(model, extra)
    key = str(extra.relative_to(trail.root))
    report = run(trail)
    [bad] = [f for f in report.files if f.status != FileStatus.VALID]
    assert (bad.key, bad.status, bad.digest) == (key, FileStatus.UNLISTED, None)
    stamp = datetime.strptime(extra.name.split("_")[3], "%Y%m%dT%H%MZ")
    assert bad.hour_start == f"{stamp:%Y-%m-%dT%H:%M}:00Z"  # the time its name claims


def test_a_deleted_digest_is_a_chain_gap_with_its_hour(trail: Trail) -> None:
    target = trail.digests[1]  # the second hour of the first stream
    (trail.root / target).unlink()
    report = run(trail)
    rows = digest_rows(report)
    assert rows[target] == (DigestStatus.MISSING, "2026-03-02T00:07:00Z")
    # The log files it listed are listed nowhere else now; older digests lost their proof.
    orphans = [p for p in trail.logs[:8] if trail.hour_of[p][1] == "2026-03-02T00:07:00Z"]
    assert orphans and all(file_rows(report)[p] == FileStatus.UNLISTED for p in orphans)
    assert rows[trail.digests[0]][0] == DigestStatus.UNPROVEN
    assert rows[trail.digests[2]][0] == DigestStatus.VALID


def test_a_deleted_newest_digest_is_missing(trail: Trail) -> None:
    target = trail.digests[3]
    (trail.root / target).unlink()
    assert digest_rows(run(trail))[target] == (DigestStatus.MISSING, "2026-03-02T02:07:00Z")


def test_a_digest_edited_to_hide_a_change_has_a_bad_signature(trail: Trail) -> None:
    newest = trail.root / trail.digests[3]
    _regzip(newest, lambda raw: raw.replace(b'"hashValue":"', b'"hashValue":"0', 1))
    report = run(trail)
    assert digest_rows(report)[trail.digests[3]] == (
        DigestStatus.BAD_SIGNATURE,
        "2026-03-02T02:07:00Z",
    )
    # Inside the chain the next digest recorded its hash: an edited one is caught as modified.
    # (Another stream: this one's newest can no longer vouch for anything.)
    _regzip(trail.root / trail.digests[5], lambda raw: raw.replace(b"SHA-256", b"SHA-256 "))
    rows = digest_rows(run(trail))
    assert rows[trail.digests[5]] == (DigestStatus.MODIFIED, "2026-03-02T00:07:00Z")


def test_a_bad_signature_in_the_saved_signatures_is_reported(trail: Trail) -> None:
    doc = json.loads(trail.signatures_file.read_text())
    sig = doc["signatures"][0]["signature"]
    doc["signatures"][0]["signature"] = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    trail.signatures_file.write_text(json.dumps(doc))
    report = run(trail)
    rows = digest_rows(report)
    assert rows[doc["signatures"][0]["s3Object"]][0] == DigestStatus.BAD_SIGNATURE
    # What only that digest could prove is unproven, not valid.
    assert rows[trail.digests[0]][0] == DigestStatus.UNPROVEN
    assert {file_rows(report)[p] for p in trail.logs[:8]} == {FileStatus.UNPROVEN}


def test_a_digest_signed_by_an_unknown_key_is_reported(tmp_path: Path) -> None:
    rogue = build_trail(
        tmp_path / "rogue", seed="rogue", accounts=("111111111111",), regions=("us-east-1",)
    )
    real = synthetic_key("tests")
    far = (START.replace(year=2025), START.replace(year=2027))
    rogue.keys_file.write_text(json.dumps(list_public_keys_document([(real, *far)])))
    report = run(rogue)
    assert {d.status for d in report.digests} == {DigestStatus.UNKNOWN_KEY}
    assert all("no public key" in d.detail for d in report.digests)
    assert {f.status for f in report.files} == {FileStatus.UNPROVEN}


def test_a_key_outside_its_validity_is_unknown(trail: Trail) -> None:
    key = synthetic_key("tests")
    expired = (START.replace(year=2020), START.replace(year=2021))
    trail.keys_file.write_text(json.dumps(list_public_keys_document([(key, *expired)])))
    assert {d.status for d in run(trail).digests} == {DigestStatus.UNKNOWN_KEY}


def test_a_reordered_chain_is_reported_as_moved(trail: Trail) -> None:
    a, b = trail.root / trail.digests[1], trail.root / trail.digests[2]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    rows = digest_rows(run(trail))
    assert rows[trail.digests[1]] == (DigestStatus.MOVED, "2026-03-02T01:07:00Z")
    assert rows[trail.digests[2]] == (DigestStatus.MOVED, "2026-03-02T00:07:00Z")


def test_a_single_account_trail_verifies(tmp_path: Path) -> None:
    trail = build_trail(tmp_path / "single", org=False, accounts=("333333333333",))
    report = run(trail)
    assert report.ok and len(report.files) == len(trail.logs)


def test_a_day_range_checks_only_that_day_and_its_spill(trail: Trail) -> None:
    # The trail runs 22:07 on 1 March to 02:07 on 2 March; 2 March's files only.
    report = run(trail, start=date(2026, 3, 2), end=date(2026, 3, 2))
    assert report.ok, report.problems()
    march_2 = {p for p in trail.logs if "/2026/03/02/" in p}
    assert march_2 <= set(file_rows(report)) and march_2


def test_filters_by_account_and_region(trail: Trail) -> None:
    report = run(trail, accounts=["022222222222"], regions=["eu-west-1"])
    assert report.ok
    assert {(f.account, f.region) for f in report.files} == {("022222222222", "eu-west-1")}


# --------------------------------------------------------------------------------------------
# A law: any tampering is reported, and names what was tampered with
# --------------------------------------------------------------------------------------------

_KINDS = ("edit-log", "delete-log", "extra-log", "delete-digest", "edit-digest")


@pytest.fixture(scope="module")
def small_trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    root = tmp_path_factory.mktemp("small") / "trail"
    return build_trail(root, accounts=("111111111111",), regions=("us-east-1",), hours=3)


@given(kind=st.sampled_from(_KINDS), pick=st.integers(min_value=0, max_value=1000))
def test_any_tampering_is_reported_and_named(
    small_trail: Trail, tmp_path_factory: pytest.TempPathFactory, kind: str, pick: int
) -> None:
    root = tmp_path_factory.mktemp("tampered") / "trail"
    shutil.copytree(small_trail.root, root)
    trail = Trail(root, small_trail.logs, small_trail.digests, small_trail.signatures)
    logs, digests = trail.logs, trail.digests
    if kind == "edit-log":
        target = logs[pick % len(logs)]
        _regzip(root / target, lambda raw: raw[:-3] + b" " + raw[-3:])
    elif kind == "delete-log":
        target = logs[pick % len(logs)]
        (root / target).unlink()
    elif kind == "extra-log":
        model = root / logs[pick % len(logs)]
        extra = model.with_name(model.name.replace("abcdefgh", "EXTRAxyz"))
        shutil.copyfile(model, extra)
        target = str(extra.relative_to(root))
    elif kind == "delete-digest":
        target = digests[pick % len(digests)]
        (root / target).unlink()
    else:
        target = digests[pick % len(digests)]
        _regzip(root / target, lambda raw: raw.replace(b"ListUsers", b"x").replace(b"}]", b"} ]"))
    report = run(trail)
    assert not report.ok
    assert target in {p.key for p in report.problems()}


def test_a_backfill_digest_counts(trail: Trail) -> None:
    # A file delivered late, listed by a backfill digest rather than its hour's digest.
    late = trail.logs[0].replace("abcdefgh", "LATEfile")
    raw = b'{"Records":[]}'
    (trail.root / late).write_bytes(gzip.compress(raw, mtime=0))
    writer = DigestChainWriter(
        synthetic_key("tests"),
        bucket=BUCKET,
        logs_root=f"AWSLogs/{ORG}/111111111111",
        region="us-east-1",
        trail=TRAIL,
        home_region=HOME,
    )
    entry = {"s3Object": late, "hashValue": hashlib.sha256(raw).hexdigest()}
    end = START + timedelta(hours=1, minutes=30)
    backfill = writer.add(START, end, [entry], backfill=True)
    assert backfill.key.endswith("_backfill.json.gz")
    (trail.root / backfill.key).parent.mkdir(parents=True, exist_ok=True)
    (trail.root / backfill.key).write_bytes(gzip.compress(backfill.raw, mtime=0))
    # Nothing chains to a backfill digest: without its saved signature it proves nothing.
    report = run(trail)
    assert digest_rows(report)[backfill.key][0] == DigestStatus.UNPROVEN
    assert file_rows(report)[late] == FileStatus.UNPROVEN
    doc = json.loads(trail.signatures_file.read_text())
    doc["signatures"].append({"s3Object": backfill.key, "signature": backfill.signature})
    trail.signatures_file.write_text(json.dumps(doc))
    report = run(trail)
    assert report.ok, report.problems()
    assert file_rows(report)[late] == FileStatus.VALID
    assert {d.key: d.backfill for d in report.digests}[backfill.key] is True


def test_a_listed_key_never_leads_a_read_outside_the_source(tmp_path: Path) -> None:
    # A signed digest (here: signed with the trusted test key) naming "../" paths.
    outside = tmp_path / "secret.json.gz"
    outside.write_bytes(gzip.compress(b"{}", mtime=0))
    trail = build_trail(tmp_path / "t", accounts=("111111111111",), regions=("us-east-1",), hours=1)
    writer = DigestChainWriter(
        synthetic_key("tests"),
        bucket=BUCKET,
        logs_root=f"AWSLogs/{ORG}/111111111111",
        region="us-east-1",
        trail=TRAIL,
        home_region=HOME,
    )
    sneaky = f"AWSLogs/{ORG}/111111111111/CloudTrail/us-east-1/../../../../../../secret.json.gz"
    entry = {"s3Object": sneaky, "hashValue": hashlib.sha256(b"{}").hexdigest()}
    signed = writer.add(START + timedelta(hours=3), START + timedelta(hours=4), [entry])
    (trail.root / signed.key).parent.mkdir(parents=True, exist_ok=True)
    (trail.root / signed.key).write_bytes(gzip.compress(signed.raw, mtime=0))
    doc = {"signatures": [{"s3Object": signed.key, "signature": signed.signature}]}
    trail.signatures_file.write_text(json.dumps(doc))
    report = run(trail)
    rows = {f.key: f for f in report.files}
    assert rows[sneaky].status == FileStatus.MISSING and rows[sneaky].uri is None
