"""Which staff passwords are refused: too short, too long, the email itself, or a common or breached pattern.

Hashing: argon2id (argon2-cffi's PasswordHasher defaults, RFC 9106's low-memory profile: time_cost=3,
memory_cost=65536 KiB, parallelism=4, 16-byte salt, 32-byte hash); a hash with older parameters is upgraded at the
next sign-in (staff.auth.check_password).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128  # a passphrase fits; a megabyte of text is not a password
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv")


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The bundled list of common base words (common_passwords.txt)."""
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _is_sequence(text: str) -> bool:
    return len(text) >= 4 and any(text in seq or text in seq[::-1] for seq in _SEQUENCES)


def _repeats_a_short_unit(text: str) -> bool:
    return bool(re.fullmatch(r"(.{1,4})\1+", text))


def password_problem(password: str, email: str = "") -> str | None:
    """Why this password is refused (a sentence for the form), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    email = email.strip().lower()
    if email and (
        lowered == email
        or lowered == email.split("@")[0]
        or email.split("@")[0] in lowered
        and len(email.split("@")[0]) >= 6
        and len(lowered) - len(email.split("@")[0]) < 6
    ):
        return "Do not use your email address as your password."
    compact = re.sub(r"\s+", "", lowered)
    if _repeats_a_short_unit(compact) or _is_sequence(compact) or len(set(compact)) <= 3 or compact.isdigit():
        return "This password is too easy to guess: choose a few unrelated words."
    # The breached-list pattern: a common word, l33t-spelled, with digits or symbols around it ("P@ssw0rd2024!").
    core = re.sub(r"^[^a-z]+|[^a-z]+$", "", lowered)
    base = re.sub(r"[^a-z]", "", core.translate(_LEET))
    if len(_without_common_words(base, common_words())) < 4 or _is_sequence(base):
        return "This password is too common (it appears in lists of stolen passwords): choose a few unrelated words."
    return None


def _without_common_words(base: str, words: frozenset[str]) -> str:
    """`base` with every common word of 4+ letters taken out, longest first (what is left is the password's own)."""
    for word in sorted((w for w in words if len(w) >= 4), key=len, reverse=True):
        base = base.replace(word, "")
    return base
