"""Where model versions live: a small Storage interface, its fakes and backends.

The file-system source only needs three things from storage: does a base path
exist, what are its direct children, and (for the loader) a local directory
holding one version. ``LocalStorage`` answers them from the local disk,
``InMemoryStorage`` from a set of paths (tests), and ``S3Storage`` from an
``s3://bucket/prefix`` object store (boto3, an optional dependency).
:func:`storage_for` picks one by the base path's scheme.
"""

from __future__ import annotations

import abc
import contextlib
import os
import pathlib
import posixpath
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

from tensorserve.core.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    ServingError,
    Unavailable,
    Unimplemented,
)

S3_INSTALL_HINT = "pip install tensorserve[s3]"


class Storage(abc.ABC):
    """Read-only view of a tree of version directories. Implementations are thread-safe."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether ``path`` names an existing directory (or object prefix)."""

    @abc.abstractmethod
    def list_children(self, path: str) -> list[str]:
        """Names of the direct children of ``path`` (first path component only), sorted."""

    @abc.abstractmethod
    def local_path(self, path: str) -> pathlib.Path:
        """A local directory with the contents of ``path``, copied there first if need be."""

    def discard_local_copy(self, path: str) -> None:
        """Forget what ``local_path`` copied for ``path``, so the next call copies it
        again (after a load of the copy failed). Nothing to do for local storage."""
        return None

    def newest_change(self, path: str) -> float | None:
        """Wall-clock time (seconds since the epoch) of the newest change anywhere
        under ``path``, or None when this storage cannot tell (then nothing waits).
        Used to hold back a version that is still being written."""
        return None

    def join(self, base: str, child: str) -> str:
        """``base/child`` in this storage's path syntax."""
        return posixpath.join(base, child) if base else child


class LocalStorage(Storage):
    """The local file system; ``local_path`` is the identity. Thread-safe."""

    def exists(self, path: str) -> bool:
        return os.path.exists(_strip_file_scheme(path))

    def list_children(self, path: str) -> list[str]:
        return sorted(os.listdir(_strip_file_scheme(path)))

    def local_path(self, path: str) -> pathlib.Path:
        return pathlib.Path(_strip_file_scheme(path))

    def newest_change(self, path: str) -> float | None:
        """The newest ``st_mtime`` of ``path`` and everything under it (links not followed)."""
        root = _strip_file_scheme(path)
        newest = os.stat(root).st_mtime
        for directory, subdirectories, files in os.walk(root):
            for name in (*subdirectories, *files):
                try:
                    newest = max(newest, os.lstat(os.path.join(directory, name)).st_mtime)
                except FileNotFoundError:  # removed while we walk: the next poll sees it
                    continue
        return newest

    def join(self, base: str, child: str) -> str:
        return os.path.join(base, child)


class InMemoryStorage(Storage):
    """A fake storage holding a set of directory paths; for tests. Thread-safe.

    Adding ``/m/1`` also makes ``/m`` exist. ``local_path`` returns the path
    unchanged (nothing is materialised).
    """

    def __init__(self, directories: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._dirs: set[str] = set()
        self._changed: dict[str, float] = {}
        for directory in directories:
            self.add(directory)

    def touch(self, path: str, when: float) -> None:
        """Record that something under ``path`` changed at wall-clock time ``when``."""
        with self._lock:
            self._changed[_normalise(path)] = when

    def newest_change(self, path: str) -> float | None:
        """What :meth:`touch` recorded for ``path``, or None (settled) if nothing."""
        with self._lock:
            return self._changed.get(_normalise(path))

    def add(self, path: str) -> None:
        """Create ``path`` and all its parents."""
        path = _normalise(path)
        with self._lock:
            while path not in ("", "/") and path not in self._dirs:
                self._dirs.add(path)
                path = posixpath.dirname(path)

    def remove(self, path: str) -> None:
        """Delete ``path`` and everything under it."""
        path = _normalise(path)
        with self._lock:
            self._dirs = {d for d in self._dirs if d != path and not d.startswith(path + "/")}

    def exists(self, path: str) -> bool:
        with self._lock:
            return _normalise(path) in self._dirs

    def list_children(self, path: str) -> list[str]:
        prefix = _normalise(path) + "/"
        with self._lock:
            if _normalise(path) not in self._dirs:
                raise FileNotFoundError(path)
            return sorted(
                {d[len(prefix) :].split("/", 1)[0] for d in self._dirs if d.startswith(prefix)}
            )

    def local_path(self, path: str) -> pathlib.Path:
        return pathlib.Path(path)


class S3Storage(Storage):
    """An S3-compatible object store addressed as ``s3://bucket/prefix``. Thread-safe.

    Directories are key prefixes. ``local_path`` downloads a version into
    ``cache_dir/<bucket>/<key>`` once: into a temporary sibling first, renamed
    into place atomically, so a loader never sees a half-downloaded version.
    Each file must have the size the listing gave its object: a store that
    answers with part of an object fails the copy with DATA_LOSS, and a
    download that fails midway with UNAVAILABLE; neither leaves anything behind.
    The endpoint comes from ``endpoint_url`` or boto3's own configuration
    (``AWS_ENDPOINT_URL``, ``~/.aws``).
    """

    def __init__(
        self,
        cache_dir: pathlib.Path | None = None,
        *,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            client = _make_s3_client(endpoint_url)
        self._client = client
        self._cache_dir = cache_dir or pathlib.Path(tempfile.gettempdir()) / "tensorserve-s3"

    def exists(self, path: str) -> bool:
        bucket, key = split_s3_path(path)
        if not key:
            try:
                self._client.head_bucket(Bucket=bucket)
            except self._client.exceptions.ClientError:
                return False
            return True
        reply = self._client.list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1)
        return bool(reply.get("KeyCount", 0))

    def list_children(self, path: str) -> list[str]:
        bucket, key = split_s3_path(path)
        prefix = key + "/" if key else ""
        children: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                children.add(common["Prefix"][len(prefix) :].split("/", 1)[0])
            for obj in page.get("Contents", []):
                children.add(obj["Key"][len(prefix) :].split("/", 1)[0])
        children.discard("")
        return sorted(children)

    def local_path(self, path: str) -> pathlib.Path:
        bucket, key = split_s3_path(path)
        target = self._cache_dir / bucket / key
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            self._download_prefix(bucket, key + "/", staging)
            _sync_files(staging)
            try:
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():  # a concurrent download winning the race is fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def newest_change(self, path: str) -> float | None:
        """The newest ``LastModified`` of the objects under ``path``."""
        bucket, key = split_s3_path(path)
        newest: float | None = None
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=key + "/"):
            for obj in page.get("Contents", []):
                modified = obj["LastModified"].timestamp()
                newest = modified if newest is None else max(newest, modified)
        return newest

    def _download_prefix(self, bucket: str, prefix: str, into: pathlib.Path) -> None:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                destination = into / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = f"s3://{bucket}/{obj['Key']}"
                try:
                    self._client.download_file(bucket, obj["Key"], str(destination))
                except Exception as exc:
                    raise _copy_error(source, exc) from exc
                got, expected = destination.stat().st_size, int(obj["Size"])
                if got != expected:
                    raise DataLoss(
                        f"Copying {source} got {got} of its {expected} bytes: the object "
                        "store returned part of the object"
                    )

    def discard_local_copy(self, path: str) -> None:
        bucket, key = split_s3_path(path)
        target = self._cache_dir / bucket / key
        if target.is_dir():  # renamed aside first, so a concurrent copy never sees half of it
            doomed = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            with contextlib.suppress(OSError):
                os.rename(target, doomed / target.name)
            shutil.rmtree(doomed, ignore_errors=True)

    def join(self, base: str, child: str) -> str:
        return base.rstrip("/") + "/" + child


def split_s3_path(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b")``."""
    parsed = urllib.parse.urlparse(path)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidArgument(f"Expected an s3://bucket/path URI; got {path}")
    return parsed.netloc, parsed.path.strip("/")


def storage_for(base_path: str, *, cache_dir: pathlib.Path | None = None) -> Storage:
    """The storage able to read ``base_path``, chosen by its URI scheme.

    Raises ``Unimplemented`` with TensorFlow's message for an unknown scheme,
    and ``FailedPrecondition`` naming the extra to install when boto3 is absent.
    """
    scheme = urllib.parse.urlparse(base_path).scheme
    if scheme in ("", "file"):
        return LocalStorage()
    if scheme == "s3":
        return S3Storage(cache_dir)
    raise Unimplemented(f"File system scheme '{scheme}' not implemented (file: '{base_path}')")


def _make_s3_client(endpoint_url: str | None) -> Any:
    try:
        import boto3  # optional dependency, imported on first use
    except ImportError as exc:
        raise FailedPrecondition(
            f"s3:// base paths need the optional boto3 package: {S3_INSTALL_HINT}"
        ) from exc
    return boto3.client("s3", endpoint_url=endpoint_url)


def _copy_error(source: str, exc: Exception) -> ServingError:
    """DATA_LOSS when the object arrived but its checksum did not match (a corrupt or
    partial object), UNAVAILABLE for any other failed download (a cut connection)."""
    try:
        from botocore.exceptions import FlexibleChecksumError  # present whenever boto3 is
    except ImportError:  # a client of another make: only the size check can tell
        return Unavailable(f"Copying {source} failed: {exc}")
    if isinstance(exc, FlexibleChecksumError):
        return DataLoss(f"Copying {source} failed: {exc}: the object store returned it damaged")
    return Unavailable(f"Copying {source} failed: {exc}")


def _sync_files(root: pathlib.Path) -> None:
    """fsync every downloaded file: a full disk must fail the copy, not the load."""
    for file in root.rglob("*"):
        if file.is_file():
            descriptor = os.open(file, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            except OSError as exc:
                raise Unavailable(f"Writing the local copy {file} failed: {exc.strerror}") from exc
            finally:
                os.close(descriptor)


def _strip_file_scheme(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _normalise(path: str) -> str:
    return posixpath.normpath(path) if path else path
