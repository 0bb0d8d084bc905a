"""The conformance fixtures the tests load are the reference outputs the tests were written on, unchanged."""

import hashlib

from tests.plugins.attacks.conftest import CONFORMANCE, SUMS


def test_the_shared_fixtures_match_their_recorded_checksums():
    sums = {name: digest for digest, name in (line.split() for line in SUMS.read_text().splitlines() if line.strip())}
    assert {"lira_official.npz", "lira_official.json", "rmia_official.npz", "rmia_official.json"} <= set(sums)
    for name, digest in sums.items():
        got = hashlib.sha256((CONFORMANCE / name).read_bytes()).hexdigest()
        assert got == digest, f"{CONFORMANCE / name} is not the file the conformance tests were written on"
