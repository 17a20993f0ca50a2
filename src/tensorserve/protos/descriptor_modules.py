"""Module-like namespaces of message classes, built from checked-in descriptors.

A descriptor module (``tfserving_descriptors``, ``v2_descriptors``; written by
:mod:`tensorserve.protos.generate`) holds serialized ``FileDescriptorProto``s and the
versions of the packages they were dumped from. :func:`load_modules` adds the files to
protobuf's default pool and returns, for each generated module they replace, a
namespace with the same top-level messages, enums, enum values and ``DESCRIPTOR``.
In the default pool, a generated module imported later (by a TensorFlow servable, or a
test's client) finds the same files and returns the very same classes.

protobuf refuses a second, *different* file of one name, so the files are added only
while the packages are absent or installed at the very versions they came from
(checked from the distributions' metadata, in milliseconds, importing nothing);
otherwise the generated modules are imported instead, at their usual cost.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import logging
import types
from collections.abc import Mapping

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.internal import enum_type_wrapper

logger = logging.getLogger(__name__)


# The distributions that ship each package: TensorFlow's builds go by several names.
DISTRIBUTIONS: Mapping[str, tuple[str, ...]] = {
    "tensorflow": (
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-intel",
        "tensorflow-macos",
        "tensorflow-aarch64",
        "intel-tensorflow",
        "tf-nightly",
        "tf-nightly-cpu",
    ),
    "tensorflow_serving": ("tensorflow-serving-api", "tensorflow-serving-api-gpu"),
    "tritonclient": ("tritonclient",),
}


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def is_importable(package: str) -> bool:
    """Whether ``package`` is on ``sys.path``; looked up without importing it, and past
    the meta-path finders (the server's lazy TensorFlow finder must not see a probe)."""
    return importlib.machinery.PathFinder.find_spec(package) is not None


def match_installed(versions: Mapping[str, str]) -> bool:
    """Whether each package in ``versions`` is absent, or installed by a distribution
    known to ship it at that very version. A package installed some other way counts as
    a mismatch: the generated modules are then the safe choice."""
    mismatched = {}
    for package, version in versions.items():
        if not is_importable(package):
            continue
        installed = {
            found
            for distribution in DISTRIBUTIONS.get(package, (package,))
            if (found := installed_version(distribution)) is not None
        }
        if installed != {version}:
            mismatched[package] = sorted(installed) or "installed by an unknown distribution"
    if mismatched:
        logger.debug(
            "messages come from the generated modules: installed %s, descriptors of %s",
            mismatched,
            dict(versions),
        )
    return not mismatched


def load_modules(descriptors: types.ModuleType) -> dict[str, types.ModuleType]:
    """Each module ``descriptors.MODULES`` names: built from its files, or imported when
    the installed packages are other versions (see the module's docstring)."""
    if not match_installed(descriptors.VERSIONS):
        return {name: importlib.import_module(name) for name in descriptors.MODULES}
    for well_known in descriptors.WELL_KNOWN_MODULES:
        importlib.import_module(well_known)  # adds its file to the default pool
    pool = descriptor_pool.Default()
    for data in descriptors.FILES:
        # The same file again (the generated module came first) is accepted as it is.
        pool.AddSerializedFile(data)
    return {name: _module(name, file) for name, file in descriptors.MODULES.items()}


def _module(module_name: str, file_name: str) -> types.ModuleType:
    file = descriptor_pool.Default().FindFileByName(file_name)
    module = types.ModuleType(module_name, f"{file_name}, from tensorserve's descriptors")
    module.DESCRIPTOR = file  # type: ignore[attr-defined]
    for name, message in file.message_types_by_name.items():
        setattr(module, name, message_factory.GetMessageClass(message))
    for name, enum in file.enum_types_by_name.items():
        setattr(module, name, enum_type_wrapper.EnumTypeWrapper(enum))
        for value in enum.values:
            setattr(module, value.name, value.number)
    return module
