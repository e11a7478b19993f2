"""verify_source on the S3 test server (SeaweedFS keeps user metadata): signatures come from
``x-amz-meta-signature``, so the newest digest is proven without a saved signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudtrail_hunt.custody import DigestStatus, FileStatus, Proof, load_public_keys, verify_source
from cloudtrail_hunt.ingest.sources import open_source
from tests.custody.builder import build_trail
from tests.custody.s3trail import upload_trail
from tests.fixtures_s3 import S3Server

pytestmark = pytest.mark.s3


def test_an_s3_trail_verifies_every_digest_from_its_metadata(
    tmp_path: Path, aws_env: S3Server, s3_bucket: str
) -> None:
    trail = build_trail(tmp_path / "trail", accounts=("111111111111",))
    client = aws_env.client()
    upload_trail(client, s3_bucket, trail, prefix="org/")
    source = open_source(f"s3://{s3_bucket}/org", endpoint_url=aws_env.endpoint_url)
    keys = load_public_keys([trail.keys_file])
    report = verify_source(source, keys)  # no saved signatures: S3 has them all
    assert report.ok, report.problems()
    assert {d.proof for d in report.digests} == {Proof.METADATA}
    assert len(report.files) == len(trail.logs)
    assert all(f.uri.startswith(f"s3://{s3_bucket}/org/AWSLogs/") for f in report.files)

    # A forged signature in the metadata of one digest, a deleted log file and an extra one.
    forged = trail.digests[1]
    sig = trail.signatures[forged]
    client.copy_object(
        Bucket=s3_bucket,
        Key="org/" + forged,
        CopySource={"Bucket": s3_bucket, "Key": "org/" + forged},
        Metadata={"signature": sig[:-2] + "00", "signature-algorithm": "SHA256withRSA"},
        MetadataDirective="REPLACE",
    )
    client.delete_object(Bucket=s3_bucket, Key="org/" + trail.logs[-1])
    extra = trail.logs[0].replace("abcdefgh", "EXTRAxyz")
    client.put_object(Bucket=s3_bucket, Key="org/" + extra, Body=b"{}")
    report = verify_source(source, keys)
    digests = {d.key: d.status for d in report.digests}
    files = {f.key: f.status for f in report.files}
    assert digests[forged] == DigestStatus.BAD_SIGNATURE
    assert files[trail.logs[-1]] == FileStatus.MISSING
    assert files[extra] == FileStatus.UNLISTED
    # The other digests still stand on their own metadata.
    assert sum(s == DigestStatus.VALID for s in digests.values()) == len(trail.digests) - 1
    client.close()
