"""Keyed pseudonyms: stable values, the HMAC they are defined as, and a bounded cache."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from monitor.hashing import Pseudonymizer

KEY = b"0123456789abcdef-test-key"


class TestPseudonymizer:
    def test_values_are_stable_across_versions(self) -> None:
        """The hashes of a plate and a user under a key stay what earlier versions wrote (alerts, state, reports)."""
        pseudonymizer = Pseudonymizer(KEY)
        assert pseudonymizer.plate("7abc 123") == "p:2f51ab25f7629ae05fd4"
        assert pseudonymizer.user(" Jane.Doe ") == "u:231c5ae127097d5aa5ec"

    def test_hash_is_hmac_sha256_of_kind_and_normalised_value(self) -> None:
        """A pseudonym is HMAC-SHA256 under the key of the kind, a NUL and the normalised value, first 20 hex digits."""
        pseudonymizer = Pseudonymizer(KEY)
        for plate in ("ABC123", "7 xyz 9", "Ünï"):
            normalised = "".join(plate.split()).upper()
            expected = hmac.new(KEY, f"p\x00{normalised}".encode(), hashlib.sha256).hexdigest()[:20]
            assert pseudonymizer.plate(plate) == f"p:{expected}"
            assert pseudonymizer.plate(plate) == f"p:{expected}"  # the cached answer is the same

    def test_keys_give_different_hashes(self) -> None:
        """Two pseudonymizers with different keys never share a hash state."""
        first, second = Pseudonymizer(KEY), Pseudonymizer(KEY + b"2")
        assert first.plate("ABC123") != second.plate("ABC123")
        assert first.plate("ABC123") == Pseudonymizer(KEY).plate("ABC123")

    def test_cache_is_bounded(self) -> None:
        """Hashing more distinct plates than the cache holds keeps the cache at its bound, answers unchanged."""
        pseudonymizer = Pseudonymizer(KEY)
        first = pseudonymizer.plate("P0")
        bound = pseudonymizer._digest.cache_info().maxsize
        assert bound is not None
        for n in range(bound + 100):
            pseudonymizer.plate(f"P{n}")
        assert pseudonymizer._digest.cache_info().currsize == bound
        assert pseudonymizer.plate("P0") == first  # evicted, computed again alike

    def test_short_key_is_refused(self) -> None:
        """A key under 16 bytes is refused with what to set."""
        with pytest.raises(ValueError, match="ALPR_PSEUDONYM_KEY"):
            Pseudonymizer(b"short")
