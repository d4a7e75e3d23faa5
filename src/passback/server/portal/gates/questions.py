"""Security questions (SPEC G2): the predefined list, how answers are compared
(case, spacing and Unicode compatibility forms do not matter), what an answer
may not be, and the argon2id hashes they are kept as (never the answer, S7).

A tenant may add questions of its own (``pool``); they are chosen and kept
like the predefined ones, by a stable id.

Which questions a gate asks is the same every time for one username: chosen
from the user's own questions (or, for a username without any, from all the
tenant's questions) by a keyed hash of the username, so that asking twice tells
nothing about whether the account exists or has questions (T2).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import unicodedata
from collections.abc import Mapping, Sequence

import argon2

from passback.policy.gates import CustomQuestion
from passback.server.i18n import Translator
from passback.server.i18n.translations import N_

#: The predefined questions, by a stable key (kept with the answer's hash).
QUESTIONS: Mapping[str, str] = {
    "first_pet": N_("What was the name of your first pet?"),
    "birth_city": N_("In what city were you born?"),
    "first_school": N_("What was the name of your first school?"),
    "childhood_friend": N_("What is the first name of your best friend in childhood?"),
    "first_car": N_("What was the make and model of your first car?"),
    "mother_birth_city": N_("In what city was your mother born?"),
    "father_middle_name": N_("What is your father's middle name?"),
    "first_job_city": N_("In what city did you have your first job?"),
    "favourite_teacher": N_("What was the last name of your favourite teacher?"),
    "childhood_street": N_("On what street did you live as a child?"),
    "childhood_nickname": N_("What was your childhood nickname?"),
    "first_concert": N_("What was the first concert you went to?"),
    "oldest_cousin": N_("What is the first name of your oldest cousin?"),
    "grandmother_name": N_("What is your maternal grandmother's first name?"),
    "first_phone_brand": N_("What was the brand of your first mobile phone?"),
    "favourite_book": N_("What is the title of your favourite childhood book?"),
    "wedding_city": N_("In what city did you marry or meet your partner?"),
    "first_boss": N_("What was the last name of your first boss?"),
    "dream_job": N_("What did you want to be when you grew up?"),
    "first_holiday": N_("Where did you go on your first holiday away from home?"),
    "favourite_food": N_("What was your favourite food as a child?"),
    "sibling_middle_name": N_("What is the middle name of your oldest sibling?"),
}

MIN_ANSWER = 3
MAX_ANSWER = 200


def pool(custom: Sequence[CustomQuestion]) -> list[str]:
    """Every question key a user may register: the predefined ones, then the
    tenant's own (``GatePolicy.custom_questions``)."""
    return [*QUESTIONS, *(q.id for q in custom)]


def text_of(key: str, t: Translator, custom: Sequence[CustomQuestion]) -> str:
    """A question's text in the page's language (a custom question without a
    Portuguese text is shown in English)."""
    if key in QUESTIONS:
        return t.gettext(QUESTIONS[key])
    for question in custom:
        if question.id == key:
            portuguese = t.locale.startswith("pt") and question.pt_br
            return question.pt_br if portuguese and question.pt_br else question.en
    return key


_HASHER = argon2.PasswordHasher()  # argon2id, RFC 9106's second recommended profile


@functools.cache
def no_answer_hash() -> str:
    """Checked when a username has no answer on file, so that every check
    takes the same work (T2). Made once, not at import: the app makes it
    before it serves."""
    return _HASHER.hash("\0no answer on file\0")


def normalise(answer: str) -> str:
    """How answers are compared: NFKC, case folded, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", answer).casefold()
    return " ".join(folded.split())


def answer_problem(answer: str, *, username: str, others: Sequence[str]) -> str | None:
    """Why ``answer`` cannot be registered (a message id), or None.

    ``others``: the other answers of the same registration, normalised.
    """
    value = normalise(answer)
    if len(value) < MIN_ANSWER:
        return N_("Each answer needs at least 3 characters.")
    if len(value) > MAX_ANSWER:
        return N_("Each answer may have at most 200 characters.")
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn"} for c in value):
        return N_("An answer may hold only letters, digits, spaces and punctuation.")
    name = normalise(username)
    if name and name in value:
        return N_("An answer may not contain your username.")
    if value in others:
        return N_("Each question needs its own answer.")
    return None


def hash_answer(answer: str) -> str:
    return _HASHER.hash(normalise(answer))


def answer_matches(stored: str | None, answer: str) -> bool:
    """Whether ``answer`` is the one ``stored`` was made from; None (no answer
    on file) takes the same work and never matches."""
    try:
        return _HASHER.verify(stored or no_answer_hash(), normalise(answer)[: MAX_ANSWER * 4]) and (
            stored is not None
        )
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def asked(who: str, keys: Sequence[str], count: int) -> list[str]:
    """The ``count`` question keys a gate asks, from ``keys``: the same every
    time for one ``who`` (a keyed hash of the username typed; see the
    module's text)."""

    def rank(question: str) -> bytes:
        return hmac.new(who.encode(), question.encode(), hashlib.sha256).digest()

    return sorted(keys, key=rank)[:count]
