"""Storage backends: local disk, the in-memory fake, S3 (with moto when installed)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tensorserve.core.errors import Code, ServingError
from tensorserve.sources import storage as storage_module
from tensorserve.sources.storage import (
    InMemoryStorage,
    LocalStorage,
    S3Storage,
    split_s3_path,
    storage_for,
)


def test_local_storage_lists_direct_children_sorted(tmp_path: pathlib.Path) -> None:
    (tmp_path / "2" / "variables").mkdir(parents=True)
    (tmp_path / "1").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    storage = LocalStorage()
    assert storage.exists(str(tmp_path))
    assert not storage.exists(str(tmp_path / "missing"))
    assert storage.list_children(str(tmp_path)) == ["1", "2", "notes.txt"]
    assert storage.local_path(str(tmp_path / "1")) == tmp_path / "1"
    assert storage.join(str(tmp_path), "1") == str(tmp_path / "1")


def test_local_storage_accepts_file_uris(tmp_path: pathlib.Path) -> None:
    (tmp_path / "1").mkdir()
    storage = LocalStorage()
    assert storage.exists(f"file://{tmp_path}")
    assert storage.list_children(f"file://{tmp_path}") == ["1"]


def test_in_memory_storage_creates_parents_and_lists_first_component() -> None:
    storage = InMemoryStorage(["/models/m/1/variables", "/models/m/2"])
    assert storage.exists("/models/m")
    assert storage.exists("/models/")
    assert storage.list_children("/models/m") == ["1", "2"]
    storage.remove("/models/m/1")
    assert storage.list_children("/models/m") == ["2"]
    assert not storage.exists("/models/m/1/variables")


def test_in_memory_storage_listing_a_missing_path_raises() -> None:
    with pytest.raises(FileNotFoundError):
        InMemoryStorage().list_children("/nope")


def test_storage_for_picks_by_scheme() -> None:
    assert isinstance(storage_for("/models/m"), LocalStorage)
    assert isinstance(storage_for("file:///models/m"), LocalStorage)


def test_storage_for_unknown_scheme_is_unimplemented() -> None:
    with pytest.raises(ServingError) as caught:
        storage_for("gs://bucket/m")
    assert caught.value.code is Code.UNIMPLEMENTED
    assert caught.value.message == "File system scheme 'gs' not implemented (file: 'gs://bucket/m')"


def test_split_s3_path() -> None:
    assert split_s3_path("s3://bucket/a/b/") == ("bucket", "a/b")
    assert split_s3_path("s3://bucket") == ("bucket", "")


def test_s3_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` fail
    with pytest.raises(ServingError) as caught:
        storage_module.S3Storage()
    assert caught.value.code is Code.FAILED_PRECONDITION
    assert "pip install tensorserve[s3]" in caught.value.message


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        pytest.skip("moto and boto3 are not installed")
    import boto3
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="models")
        for key in ["m/1/saved_model.pb", "m/1/variables/variables.index", "m/2/saved_model.pb",
                    "m/tmp/x", "m/README"]:  # fmt: skip
            client.put_object(Bucket="models", Key=key, Body=key.encode())
        yield client


def test_s3_storage_exists_and_lists_first_components(s3_bucket: object) -> None:
    storage = S3Storage(client=s3_bucket)
    assert storage.exists("s3://models/m")
    assert storage.exists("s3://models")
    assert not storage.exists("s3://models/missing")
    assert not storage.exists("s3://no-such-bucket")
    assert storage.list_children("s3://models/m") == ["1", "2", "README", "tmp"]
    assert storage.join("s3://models/m/", "1") == "s3://models/m/1"


def test_s3_storage_downloads_a_version_once(s3_bucket: object, tmp_path: pathlib.Path) -> None:
    storage = S3Storage(tmp_path / "cache", client=s3_bucket)
    local = storage.local_path("s3://models/m/1")
    assert local == tmp_path / "cache" / "models" / "m" / "1"
    assert (local / "saved_model.pb").read_bytes() == b"m/1/saved_model.pb"
    assert (local / "variables" / "variables.index").exists()
    assert sorted(p.name for p in local.parent.iterdir()) == ["1"]  # no staging dir left
    s3_bucket.delete_object(Bucket="models", Key="m/1/saved_model.pb")  # type: ignore[attr-defined]
    assert storage.local_path("s3://models/m/1") == local  # cached, not fetched again


class FaultyDownloads:
    """Wraps an S3 client: ``download_file`` of keys in ``cut`` raises midway; of keys in
    ``short`` writes only half the object, as a store answering part of it would."""

    def __init__(self, client: Any, cut: set[str] = set(), short: set[str] = set()) -> None:  # noqa: B006
        self._client = client
        self.cut, self.short = set(cut), set(short)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        if key in self.cut:
            pathlib.Path(filename).write_bytes(b"par")
            raise ConnectionResetError("Connection reset by peer")
        self._client.download_file(bucket, key, filename)
        if key in self.short:
            data = pathlib.Path(filename).read_bytes()
            pathlib.Path(filename).write_bytes(data[: len(data) // 2])


def test_s3_object_answered_in_part_is_data_loss_and_nothing_is_kept(
    s3_bucket: object, tmp_path: pathlib.Path
) -> None:
    client = FaultyDownloads(s3_bucket, short={"m/1/variables/variables.index"})
    storage = S3Storage(tmp_path / "cache", client=client)
    with pytest.raises(ServingError) as caught:
        storage.local_path("s3://models/m/1")
    assert caught.value.code is Code.DATA_LOSS
    assert caught.value.message == (
        "Copying s3://models/m/1/variables/variables.index got 14 of its 29 bytes: "
        "the object store returned part of the object"
    )
    assert list((tmp_path / "cache" / "models" / "m").iterdir()) == []  # no copy, no staging
    client.short.clear()
    assert (storage.local_path("s3://models/m/1") / "variables" / "variables.index").exists()


def test_s3_download_failing_midway_is_unavailable_and_nothing_is_kept(
    s3_bucket: object, tmp_path: pathlib.Path
) -> None:
    client = FaultyDownloads(s3_bucket, cut={"m/1/saved_model.pb"})
    storage = S3Storage(tmp_path / "cache", client=client)
    with pytest.raises(ServingError) as caught:
        storage.local_path("s3://models/m/1")
    assert caught.value.code is Code.UNAVAILABLE
    assert caught.value.message == (
        "Copying s3://models/m/1/saved_model.pb failed: Connection reset by peer"
    )
    assert list((tmp_path / "cache" / "models" / "m").iterdir()) == []


def test_a_discarded_s3_copy_is_downloaded_again(s3_bucket: Any, tmp_path: pathlib.Path) -> None:
    storage = S3Storage(tmp_path / "cache", client=s3_bucket)
    local = storage.local_path("s3://models/m/1")
    s3_bucket.put_object(Bucket="models", Key="m/1/saved_model.pb", Body=b"fixed")
    storage.discard_local_copy("s3://models/m/1")
    assert list(local.parent.iterdir()) == []
    assert (storage.local_path("s3://models/m/1") / "saved_model.pb").read_bytes() == b"fixed"


def test_s3_object_failing_its_checksum_is_data_loss(
    s3_bucket: object, tmp_path: pathlib.Path
) -> None:
    from botocore.exceptions import FlexibleChecksumError

    class Damaged(FaultyDownloads):
        def download_file(self, bucket: str, key: str, filename: str) -> None:
            raise FlexibleChecksumError(error_msg="Expected checksum AA== did not match BB==")

    storage = S3Storage(tmp_path / "cache", client=Damaged(s3_bucket))
    with pytest.raises(ServingError) as caught:
        storage.local_path("s3://models/m/1")
    assert caught.value.code is Code.DATA_LOSS
    assert caught.value.message.endswith(
        "Expected checksum AA== did not match BB==: the object store returned it damaged"
    )
