"""Version-directory naming and the source-side version policies."""

from __future__ import annotations

import pytest

from tensorserve.sources.servable_version_policy import (
    All,
    Latest,
    Specific,
    VersionDirectory,
    choose_versions,
    no_versions_warning,
    parse_version_number,
)

NO_VERSIONS = (
    "No versions of servable m found under base path /b. Did you forget to name your leaf "
    "directory as a number (eg. '/1/')?"
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1", 1),
        ("00000123", 123),
        ("+7", 7),
        ("-3", -3),
        (" 42 ", 42),
        ("\t5\n", 5),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
    ],
)
def test_numeric_directory_names_are_versions(name: str, expected: int) -> None:
    assert parse_version_number(name) == expected


@pytest.mark.parametrize(
    "name",
    ["v1", "1.0", "tmp", ".DS_Store", "saved_model.pb", "", "+", "1_000", "0x10", "1 2",
     "١", str(2**63), str(-(2**63) - 1)],
)  # fmt: skip
def test_non_numeric_or_out_of_range_names_are_ignored(name: str) -> None:
    assert parse_version_number(name) is None


def test_latest_defaults_to_the_single_highest_version() -> None:
    selection = choose_versions("m", "/b", ["1", "3", "2", "tmp"], Latest())
    assert selection.versions == (VersionDirectory(3, "3"),)
    assert selection.warnings == ()


def test_latest_zero_is_treated_as_one() -> None:
    assert [d.version for d in choose_versions("m", "/b", ["1", "2"], Latest(0)).versions] == [2]


def test_latest_n_returns_the_n_highest_highest_first() -> None:
    selection = choose_versions("m", "/b", ["1", "10", "9", "2"], Latest(2))
    assert [d.version for d in selection.versions] == [10, 9]


def test_all_returns_every_numeric_child() -> None:
    selection = choose_versions("m", "/b", ["2", "1", "x", "003"], All())
    assert sorted(d.version for d in selection.versions) == [1, 2, 3]


def test_specific_returns_requested_versions_that_exist() -> None:
    selection = choose_versions("m", "/b", ["1", "2", "3"], Specific((3, 1)))
    assert [d.version for d in selection.versions] == [1, 3]
    assert selection.warnings == ()


def test_specific_warns_about_a_missing_version() -> None:
    selection = choose_versions("m", "/b", ["1"], Specific((1, 5)))
    assert [d.version for d in selection.versions] == [1]
    assert selection.warnings == (
        "Version 5 of servable m, which was requested to be served as a 'specific' version "
        "in the servable's version policy, was not found in the file system",
    )


def test_empty_specific_list_warns_and_aspires_nothing() -> None:
    selection = choose_versions("m", "/b", ["1"], Specific(()))
    assert selection.versions == ()
    assert selection.warnings == ("No specific versions requested for servable m.", NO_VERSIONS)


def test_no_versions_gives_tensorflow_servings_warning() -> None:
    selection = choose_versions("m", "/b", ["tmp", "v1"], Latest())
    assert selection.versions == ()
    assert selection.warnings == (NO_VERSIONS,)
    assert no_versions_warning("m", "/b") == NO_VERSIONS


def test_duplicate_version_names_warn_and_one_wins_for_latest() -> None:
    selection = choose_versions("m", "/b", ["1", "001"], Latest())
    assert selection.versions == (VersionDirectory(1, "1"),)
    assert selection.warnings == (
        "Duplicate version directories detected. Version 1 will be loaded from 1, 001 will "
        "be ignored.",
    )


def test_duplicate_version_names_are_both_emitted_for_all() -> None:
    selection = choose_versions("m", "/b", ["1", "001"], All())
    assert sorted(d.name for d in selection.versions) == ["001", "1"]


def test_policies_print_as_text_protos() -> None:
    assert str(Latest(2)) == "latest { num_versions: 2 }"
    assert str(All()) == "all {}"
    assert str(Specific((1, 2))) == "specific { versions: 1 versions: 2 }"
