"""Sources: find servable versions in storage and adapt them into Loaders."""

from tensorserve.sources.file_system_source import (
    FileSystemStoragePathSource,
    PollResult,
    ServableSourceConfig,
)
from tensorserve.sources.servable_version_policy import (
    All,
    Latest,
    ServableVersionPolicy,
    Specific,
    choose_versions,
    parse_version_number,
)
from tensorserve.sources.source_adapter import PathToLoader, PlatformRouter, SourceAdapter
from tensorserve.sources.storage import (
    InMemoryStorage,
    LocalStorage,
    S3Storage,
    Storage,
    storage_for,
)

__all__ = [
    "All",
    "FileSystemStoragePathSource",
    "InMemoryStorage",
    "Latest",
    "LocalStorage",
    "PathToLoader",
    "PlatformRouter",
    "PollResult",
    "S3Storage",
    "ServableSourceConfig",
    "ServableVersionPolicy",
    "SourceAdapter",
    "Specific",
    "Storage",
    "choose_versions",
    "parse_version_number",
    "storage_for",
]
