"""The conformance fixtures the tests load are the shared reference outputs, unchanged."""

import hashlib

from tests.plugins.attacks.conftest import CONFORMANCE, SHARED_CONFORMANCE


def _sums():
    lines = CONFORMANCE.joinpath("SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_copied_fixtures_match_their_recorded_checksums():
    sums = _sums()
    assert {"lira_official.npz", "lira_official.json", "rmia_official.npz", "rmia_official.json"} <= set(sums)
    for name, digest in sums.items():
        assert _sha256(CONFORMANCE / name) == digest, f"{name} changed since it was copied from shared/conformance"


def test_the_copy_is_the_shared_original_where_the_project_folder_sits_beside_the_checkout():
    # a clone elsewhere has no shared/ beside it: there the checksums above are the whole check
    originals = sorted(SHARED_CONFORMANCE.glob("*")) if SHARED_CONFORMANCE.is_dir() else []
    for original in originals:
        copy = CONFORMANCE / original.name
        assert copy.exists(), f"shared/conformance/{original.name} has no copy in {CONFORMANCE}: copy it"
        assert _sha256(copy) == _sha256(original), f"{copy} differs from {original}: copy it again, update SHA256SUMS"
