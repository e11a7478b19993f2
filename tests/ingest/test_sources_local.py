"""Tests of ingest.sources on local folders: layout walks, plain folders, hostile names."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from cloudtrail_hunt.errors import ConfigError, ObjectError
from cloudtrail_hunt.ingest.layout import KeyInfo, parse_key
from cloudtrail_hunt.ingest.sources import LocalSource, SourceObject, open_source

ORG = "o-abc123defg"
ACCOUNTS = ("012345678901", "111122223333")
REGIONS = ("eu-west-1", "us-east-1")
DAYS = tuple(date(2024, 5, 30) + timedelta(days=i) for i in range(4))  # crosses a month end


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _trail_keys() -> list[str]:
    keys = []
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in DAYS:
                for n in range(2):
                    name = f"{account}_CloudTrail_{region}_{day:%Y%m%d}T00{n}5Z_id{n}.json.gz"
                    keys.append(
                        f"AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/{name}"
                    )
        keys.append(f"AWSLogs/{ORG}/{account}/CloudTrail-Digest/us-east-1/2024/05/31/d.json.gz")
    keys.append(f"AWSLogs/{ACCOUNTS[1]}/CloudTrail/us-east-1/2024/05/31/single.json.gz")
    return sorted(keys)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A sample_logs-like folder: the AWSLogs tree plus files beside it that are not logs."""
    root = tmp_path / "sample_logs"
    for key in _trail_keys():
        _write(root / key, key.encode())
    _write(root / "README.md", b"# sample logs")
    _write(root / "labels.jsonl", b"{}\n")
    _write(root / "side_inputs" / "credential_report.csv", b"user,arn\n")
    _write(root / "AWSLogs" / ".DS_Store", b"junk")
    return root


def _keys(objects: list[SourceObject]) -> list[str]:
    return [o.key for o in objects]


def test_local_lists_the_whole_trail_in_key_order(trail: Path) -> None:
    objects = list(open_source(trail).list_objects())
    assert _keys(objects) == _trail_keys()


def test_local_files_beside_awslogs_are_ignored(trail: Path) -> None:
    keys = _keys(list(open_source(trail).list_objects()))
    assert all(k.startswith("AWSLogs/") for k in keys)
    assert "README.md" not in keys
    assert "labels.jsonl" not in keys


def test_local_object_fields(trail: Path) -> None:
    key = next(k for k in _trail_keys() if k.startswith(f"AWSLogs/{ORG}/"))
    (obj,) = [o for o in open_source(trail).list_objects() if o.key == key]
    st = (trail / key).stat()
    assert obj.uri == str(trail / key)
    assert obj.size == len(key.encode())
    assert obj.etag == f"{st.st_mtime_ns:x}-{st.st_size:x}"
    assert obj.info == parse_key(key)
    assert (obj.info.org, obj.info.account) == (ORG, ACCOUNTS[0])


@pytest.mark.parametrize(
    ("start", "end", "accounts", "regions"),
    [
        (DAYS[1], DAYS[1], [ACCOUNTS[0]], ["us-east-1"]),
        (DAYS[1], DAYS[2], None, ["eu-west-1"]),
        (None, DAYS[0], [ACCOUNTS[1]], None),
        (DAYS[2], None, None, None),
    ],
)
def test_local_listing_is_restricted_by_day_account_region(
    trail: Path,
    start: date | None,
    end: date | None,
    accounts: list[str] | None,
    regions: list[str] | None,
) -> None:
    def wanted(key: str) -> bool:
        info = parse_key(key)
        assert info.day is not None
        return (
            (start is None or info.day >= start)
            and (end is None or info.day <= end)
            and (accounts is None or info.account in accounts)
            and (regions is None or info.region in regions)
        )

    objects = open_source(trail).list_objects(
        start=start, end=end, accounts=accounts, regions=regions
    )
    assert _keys(list(objects)) == [k for k in _trail_keys() if wanted(k)]


def test_local_kinds_filter(trail: Path) -> None:
    objects = list(open_source(trail).list_objects(kinds=["digest"]))
    assert _keys(objects) == [k for k in _trail_keys() if "/CloudTrail-Digest/" in k]
    assert {o.info.kind for o in objects} == {"digest"}


def test_local_one_day_walk_reads_only_the_folders_it_needs(
    trail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str) -> os._ScandirIterator[str]:  # type: ignore[name-defined]
        scanned.append(os.path.relpath(path, trail))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    day = DAYS[2]  # no digest that day
    objects = list(
        open_source(trail).list_objects(
            start=day, end=day, accounts=[ACCOUNTS[0]], regions=["us-east-1"]
        )
    )
    assert len(objects) == 2
    # The account folder has a CloudTrail-Digest folder, so that day's digest folder is tried
    # too (it does not exist); no other account, region or day is looked at.
    assert scanned == [
        "AWSLogs",
        f"AWSLogs/{ORG}/{ACCOUNTS[0]}",
        f"AWSLogs/{ORG}/{ACCOUNTS[0]}/CloudTrail-Digest/us-east-1/{day:%Y/%m/%d}",
        f"AWSLogs/{ORG}/{ACCOUNTS[0]}/CloudTrail/us-east-1/{day:%Y/%m/%d}",
    ]


def test_local_root_inside_awslogs_keeps_the_layout(trail: Path) -> None:
    root = trail / "AWSLogs" / ORG / ACCOUNTS[1]
    objects = list(open_source(root).list_objects(start=DAYS[3], kinds=["events"]))
    prefix = f"AWSLogs/{ORG}/{ACCOUNTS[1]}/"
    expected = [
        k.removeprefix(prefix)
        for k in _trail_keys()
        if k.startswith(prefix) and "/CloudTrail/" in k and parse_key(k).day == DAYS[3]
    ]
    assert _keys(objects) == expected
    assert {o.info.account for o in objects} == {ACCOUNTS[1]}
    assert {o.info.org for o in objects} == {ORG}


def test_local_root_inside_awslogs_but_off_the_layout_is_a_plain_folder(tmp_path: Path) -> None:
    root = tmp_path / "AWSLogs" / "notes"
    _write(root / "a.txt", b"a")
    _write(root / "b" / "c.json", b"c")
    assert _keys(list(open_source(root).list_objects())) == ["a.txt", "b/c.json"]


def test_local_invalid_filter_raises_at_call_time(trail: Path) -> None:
    source = open_source(trail)
    with pytest.raises(ConfigError, match="invalid account id") as info:
        source.list_objects(accounts=["../../etc"])
    assert info.value.key == "accounts"


# --------------------------------------------------------------------------------------------
# Folders without an AWSLogs tree
# --------------------------------------------------------------------------------------------


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """A folder of exported files, with one vendor's AWSLogs tree nested inside a subfolder."""
    root = tmp_path / "exports"
    _write(root / "a.json", b"a")
    _write(root / "b" / "c.ndjson", b"c")
    _write(root / "b" / "d" / "e.json.gz", b"e")
    _write(root / "vendor" / "sample.ndjson", b"s")
    for day in DAYS[:2]:
        key = f"vendor/AWSLogs/{ACCOUNTS[0]}/CloudTrail/us-east-2/{day:%Y/%m/%d}/x.json.gz"
        _write(root / key, key.encode())
    _write(root / ".hidden" / "f.json", b"h")
    _write(root / ".g.json", b"g")
    return root


def test_local_plain_folder_lists_every_regular_file(exports: Path) -> None:
    objects = list(open_source(exports).list_objects())
    expected = sorted(
        Path(dirpath, name).relative_to(exports).as_posix()
        for dirpath, dirnames, filenames in os.walk(exports)
        for name in filenames
    )
    assert _keys(objects) == expected
    assert len(expected) == 8  # dot-names included: no blind spot an attacker can choose


def test_local_plain_folder_filters_only_keys_that_parse(exports: Path) -> None:
    objects = list(open_source(exports).list_objects(start=DAYS[1], accounts=[ACCOUNTS[0]]))
    unknown = [o.key for o in objects if o.info.kind == "unknown"]
    parsed = [o for o in objects if o.info.kind != "unknown"]
    assert unknown == [
        ".g.json",
        ".hidden/f.json",
        "a.json",
        "b/c.ndjson",
        "b/d/e.json.gz",
        "vendor/sample.ndjson",
    ]
    assert [o.info.day for o in parsed] == [DAYS[1]]
    assert parsed[0].info == KeyInfo(None, ACCOUNTS[0], "us-east-2", DAYS[1], "events")


def test_local_corpus_is_listed_whole(corpus: Path) -> None:
    objects = list(open_source(corpus).list_objects())
    expected = sorted(
        Path(dirpath, name).relative_to(corpus).as_posix()
        for dirpath, _, filenames in os.walk(corpus)
        for name in filenames
    )
    assert _keys(objects) == expected
    assert any(o.info.kind == "events" for o in objects)  # its nested AWSLogs tree parses


def test_local_single_file_is_a_source_of_one_object(exports: Path) -> None:
    path = exports / "b" / "c.ndjson"
    source = open_source(path)
    objects = list(source.list_objects(start=DAYS[0], accounts=[ACCOUNTS[1]]))
    assert [(o.key, o.uri, o.size) for o in objects] == [("c.ndjson", str(path), 1)]
    assert [data for _, data in source.fetch(objects)] == [b"c"]


# --------------------------------------------------------------------------------------------
# Hostile names, symlinks, special files, unreadable files
# --------------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "esc\x1b[31mred.json",
    "new\nline.json",
    "tab\tand\rreturn.json",
    "bell\x07.json",
    "back\\slash.json",
    "dots..in..name.json",
    "ünïcödé-日本語-🙂.json",
    "rtl\u202egpj.exe.json",
    "space and 'quotes\".json",
    os.fsdecode(b"not-utf8-\xff\xfe.json"),
]


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "hostile"
    outside = tmp_path / "outside"
    _write(outside / "secret.json", b"secret")
    for i, name in enumerate(HOSTILE_NAMES):
        _write(root / "sub" / name, f"content {i}".encode())
    (root / "link-out.json").symlink_to(outside / "secret.json")
    (root / "dir-link-out").symlink_to(outside, target_is_directory=True)
    (root / "link-in.json").symlink_to(root / "sub" / HOSTILE_NAMES[0])
    (root / "dangling.json").symlink_to(root / "missing.json")
    os.mkfifo(root / "fifo.json")
    _write(root / "...", b"dots")  # a dot-name is listed like any other file
    return root, outside


def test_local_hostile_names_are_listed_without_escaping_the_root(
    hostile: tuple[Path, Path],
) -> None:
    root, _ = hostile
    source = open_source(root)
    objects = list(source.list_objects())
    expected = sorted(["...", "link-in.json", *(f"sub/{n}" for n in HOSTILE_NAMES)])
    assert _keys(objects) == expected
    real_root = os.path.realpath(root)
    for obj in objects:
        assert os.path.commonpath([os.path.realpath(obj.uri), real_root]) == real_root
        assert ".." not in obj.key.split("/")
        assert obj.info.kind == "unknown"


def test_local_hostile_names_fetch_their_own_bytes(hostile: tuple[Path, Path]) -> None:
    root, _ = hostile
    source = open_source(root)
    fetched = {o.key: data for o, data in source.fetch(source.list_objects())}
    for i, name in enumerate(HOSTILE_NAMES):
        assert fetched[f"sub/{name}"] == f"content {i}".encode()
    assert fetched["link-in.json"] == b"content 0"


def test_local_unreadable_object_is_reported_and_the_others_still_come(trail: Path) -> None:
    source = open_source(trail)
    objects = list(source.list_objects(start=DAYS[0], end=DAYS[0], regions=["eu-west-1"]))
    assert len(objects) == 4
    gone, replaced = objects[1], objects[2]
    Path(gone.uri).unlink()
    Path(replaced.uri).unlink()
    Path(replaced.uri).mkdir()  # a folder where the file was: reading it fails with EISDIR
    results = list(source.fetch(objects))
    assert [o for o, _ in results] == objects
    for obj, data in results:
        if obj in (gone, replaced):
            assert isinstance(data, ObjectError)
            assert data.source == obj.uri
            assert data.reason.startswith("cannot read the file: ")
        else:
            assert data == obj.key.encode()
    reasons = {o.key: r.reason for o, r in results if isinstance(r, ObjectError)}
    assert "No such file" in reasons[gone.key]
    assert "Is a directory" in reasons[replaced.key]


def test_local_fetch_keeps_input_order(trail: Path) -> None:
    source = open_source(trail)
    objects = list(source.list_objects())[::-1]
    assert [(o, d) for o, d in source.fetch(objects)] == [(o, o.key.encode()) for o in objects]


# --------------------------------------------------------------------------------------------
# open_source arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kwargs", "key", "match"),
    [
        ("/no/such/folder/anywhere", {}, "source", "does not exist"),
        ("ftp://host/x", {}, "source", "unsupported scheme 'ftp'"),
        ("s3://", {}, "source", "no bucket"),
        ("s3://b", {"max_attempts": 0}, "max_attempts", "must be a positive integer"),
        ("s3://b", {"max_concurrency": True}, "max_concurrency", "must be a positive integer"),
    ],
)
def test_open_source_rejects_bad_arguments(uri: str, kwargs: dict, key: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        open_source(uri, **kwargs)
    assert info.value.key == key


def test_open_source_local_root_is_the_real_absolute_path(
    trail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trail.parent)
    source = open_source(Path("sample_logs"))
    assert isinstance(source, LocalSource)
    assert source.root == os.path.realpath(trail)
