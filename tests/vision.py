"""`damaged_and_sound` lives in `tests.support.vision`; this name stays for the modules that
still import it from here."""

from tests.support.vision import TEST_SEED, damaged_and_sound

__all__ = ["TEST_SEED", "damaged_and_sound"]
