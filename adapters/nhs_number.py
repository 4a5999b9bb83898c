"""NHS number: 10 digits, the last a Modulus 11 check digit."""
from __future__ import annotations

import random

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no valid NHS number starts with them."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def normalise(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


def is_valid(value: str | None) -> bool:
    if not value:
        return False
    value = normalise(value)
    if len(value) != 10 or not value.isdigit():
        return False
    return check_digit(value[:9]) == int(value[9])


def invent(rng: random.Random) -> str:
    """A valid-looking synthetic NHS number in the 999 range (never issued to real people)."""
    while True:
        stem = "999" + "".join(str(rng.randrange(10)) for _ in range(6))
        digit = check_digit(stem)
        if digit is not None:
            return stem + str(digit)
