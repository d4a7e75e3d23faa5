"""Which verification gates a user must pass, and what is missing when they
cannot (SPEC G1, G2, G6, G7, G8). Pure: no I/O, no store.

A tenant's :class:`GatePolicy` names the methods it allows and whether one or
two gates are required. A user may pass the gates of the methods they have
"on file" (registered, or contact data from the directory) among the allowed
ones; each method counts once. When what is on file cannot satisfy the policy,
:func:`shortfall` says exactly what is missing (G6).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection, Sequence


class Method(enum.StrEnum):
    """A way to prove who one is (G1), in the order pages offer them."""

    EMAIL = "email"  # a code to the directory's mail or a registered address
    MOBILE_SMS = "mobile_sms"  # a code by SMS to the mobile phone
    MOBILE_VOICE = "mobile_voice"  # a voice call to the mobile phone reads the code
    OFFICE_VOICE = "office_voice"  # a voice call to the office phone
    QUESTIONS = "questions"  # security questions (G2)
    TOTP = "totp"  # an authenticator app (RFC 6238)
    PASSKEY = "passkey"  # a passkey (WebAuthn): the phishing-resistant one

    @property
    def phone(self) -> bool:
        return self in _PHONE

    @property
    def factor(self) -> str:
        """What a gate of this method proves the user has: a text and a call
        to the mobile phone both prove the same phone, so they count once."""
        return "mobile" if self in (Method.MOBILE_SMS, Method.MOBILE_VOICE) else self.value


_PHONE = frozenset({Method.MOBILE_SMS, Method.MOBILE_VOICE, Method.OFFICE_VOICE})


class Scope(enum.StrEnum):
    """Who may use self-service (G6)."""

    NONE = "none"  # no one
    GROUP = "group"  # the members of one directory group, nested membership included
    ALL = "all"  # every synced user


#: Bounds an operator may choose within.
MAX_GATES = 2
MAX_QUESTIONS = 20
MAX_RECONFIRM_DAYS = 3650
MAX_ADMIN_CONTACTS = 10
MAX_ADDRESS = 254
MAX_CUSTOM_QUESTIONS = 20
#: Length of a custom question's text, in characters.
MIN_QUESTION, MAX_QUESTION = 10, 200
CUSTOM_PREFIX = "custom-"
#: The longest security identifier: S-1-, an authority and 15 sub-authorities.
MAX_SID = 184


class Problem(str):
    """What is wrong with a policy: words for an operator (the string itself),
    a stable ``code`` and the ``values`` they name, for pages that say it in
    the user's language."""

    code: str
    values: dict[str, int | str]

    def __new__(cls, code: str, text: str, **values: int | str) -> Problem:
        made = super().__new__(cls, text)
        made.code = code
        made.values = values
        return made


@dataclasses.dataclass(frozen=True)
class CustomQuestion:
    """A security question the tenant wrote (G2), in English and, optionally,
    Brazilian Portuguese. ``id`` (``custom-`` and 8 hex digits) stays when
    the text is edited: registered answers are kept by it."""

    id: str
    en: str
    pt_br: str | None = None

    def problems(self) -> list[Problem]:
        found = []
        suffix = self.id.removeprefix(CUSTOM_PREFIX)
        if not (
            self.id.startswith(CUSTOM_PREFIX)
            and len(suffix) == 8
            and all(c in "0123456789abcdef" for c in suffix)
        ):
            found.append(
                Problem("custom_id", f"custom question id {self.id!r} is not custom-<8 hex digits>")
            )
        for text in (self.en, self.pt_br):
            if text is None:
                continue
            if not MIN_QUESTION <= len(text.strip()) <= MAX_QUESTION or not text.isprintable():
                found.append(
                    Problem(
                        "custom_text",
                        f"custom question {text[:40]!r}: {MIN_QUESTION} to {MAX_QUESTION} "
                        "printable characters, on one line",
                        min=MIN_QUESTION,
                        max=MAX_QUESTION,
                    )
                )
        return found


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """A tenant's self-service policy for its users (G1, G2, G8)."""

    methods: frozenset[Method] = frozenset({Method.EMAIL})
    #: Gates a reset or unlock needs: 1 or 2 (of different methods).
    required: int = 1
    #: Security questions a user registers (N) and is asked at a reset (M ≤ N).
    questions_to_register: int = 3
    questions_to_ask: int = 2
    #: Users must register enough methods when they sign in (G8) …
    registration_required: bool = False
    #: … and confirm them again after this many days (0: never).
    reconfirm_days: int = 180
    #: Region (ISO 3166, e.g. ``BR``) of phone numbers written without a
    #: country code, in the directory or typed (G3); None: every number needs one.
    phone_region: str | None = None
    #: Where a user whom no code reaches asks for help (G5): the tenant's
    #: administrators' email addresses; none: the portal does not offer it.
    admin_contacts: tuple[str, ...] = ()
    #: Security questions the tenant wrote, offered beside the predefined ones.
    custom_questions: tuple[CustomQuestion, ...] = ()
    #: Who may use self-service (G6); with ``Scope.GROUP``, the members of
    #: ``scope_group`` (a group's SID, as the directory writes it).
    scope: Scope = Scope.ALL
    scope_group: str | None = None
    #: Whether a user in scope also needs an administrator's assignment (E1).
    assignment_required: bool = False
    #: G9: mail a user whose password was reset (by themselves or an
    #: administrator) or whose account was unlocked …
    notify_users: bool = True
    #: … and every administrator when another administrator's password is reset.
    notify_admins: bool = True

    def in_scope(self, groups: Collection[str]) -> bool:
        """Whether a user who is a member of ``groups`` (SIDs, nested
        membership included) may use self-service (G6)."""
        if self.scope is Scope.GROUP:
            return self.scope_group is not None and self.scope_group in groups
        return self.scope is Scope.ALL

    def problems(self) -> list[Problem]:
        """What is wrong with this policy, in words for an operator; empty if nothing."""
        found = []
        if (self.scope is Scope.GROUP or self.scope_group is not None) and not is_sid(
            self.scope_group or ""
        ):
            found.append(Problem("scope_group", "self-service for a group needs the group's SID"))
        if not 1 <= self.required <= MAX_GATES:
            found.append(Problem("gates", f"gates required must be 1 or {MAX_GATES}"))
        elif factors(self.methods) < self.required:
            found.append(
                Problem(
                    "too_few_methods",
                    f"{self.required} gates are required but only {factors(self.methods)} "
                    "different method(s) are allowed (a text and a call to the mobile phone "
                    "count once): allow more methods or require fewer gates",
                    required=self.required,
                )
            )
        elif (
            Method.QUESTIONS in self.methods
            and factors(self.methods - {Method.QUESTIONS}) < self.required
        ):
            found.append(
                Problem(
                    "questions_need_others",
                    f"security questions need {self.required} other method(s) allowed beside "
                    "them: anyone can block an account's questions with wrong answers (T1), "
                    "and the owner must keep a way in",
                    required=self.required,
                )
            )
        if not 1 <= self.questions_to_register <= MAX_QUESTIONS:
            found.append(
                Problem(
                    "questions_to_register",
                    f"questions to register must be between 1 and {MAX_QUESTIONS}",
                    max=MAX_QUESTIONS,
                )
            )
        if not 1 <= self.questions_to_ask <= self.questions_to_register:
            found.append(
                Problem(
                    "questions_to_ask",
                    "questions asked at a reset must be between 1 and the number registered",
                )
            )
        if not 0 <= self.reconfirm_days <= MAX_RECONFIRM_DAYS:
            found.append(
                Problem(
                    "reconfirm_days",
                    f"re-confirmation days must be between 0 and {MAX_RECONFIRM_DAYS}",
                    max=MAX_RECONFIRM_DAYS,
                )
            )
        region = self.phone_region
        if region is not None and not (
            len(region) == 2 and region.isascii() and region.isalpha() and region.isupper()
        ):
            found.append(
                Problem(
                    "phone_region",
                    "the phone region must be two capital letters (ISO 3166), e.g. BR",
                )
            )
        if len(self.admin_contacts) > MAX_ADMIN_CONTACTS:
            found.append(
                Problem(
                    "too_many_contacts",
                    f"at most {MAX_ADMIN_CONTACTS} administrator addresses",
                    max=MAX_ADMIN_CONTACTS,
                )
            )
        wrong = [a for a in self.admin_contacts if not is_address(a)]
        if wrong:
            found.append(
                Problem(
                    "contact_not_address",
                    f"not email addresses: {', '.join(map(repr, wrong))}",
                    wrong=", ".join(wrong),
                )
            )
        if len(self.custom_questions) > MAX_CUSTOM_QUESTIONS:
            found.append(
                Problem(
                    "too_many_custom",
                    f"at most {MAX_CUSTOM_QUESTIONS} custom questions",
                    max=MAX_CUSTOM_QUESTIONS,
                )
            )
        for question in self.custom_questions:
            found.extend(question.problems())
        ids = [q.id for q in self.custom_questions]
        texts = [" ".join(q.en.casefold().split()) for q in self.custom_questions]
        if len(set(ids)) != len(ids) or len(set(texts)) != len(texts):
            found.append(Problem("custom_duplicate", "each custom question must be different"))
        return found


def is_sid(text: str) -> bool:
    """Whether ``text`` is a security identifier as the directory writes one
    (``S-1-5-21-…``): ``S-1-``, then up to 15 numbers, at most 184 characters."""
    head, _, rest = text.partition("S-1-")
    parts = rest.split("-")
    return (
        not head
        and len(text) <= MAX_SID
        and 1 <= len(parts) <= 15
        and all(p.isascii() and p.isdigit() and len(p) <= 15 for p in parts)
    )


def is_address(text: str) -> bool:
    """Whether ``text`` looks like one email address (one @, something on both
    sides, a dot in the domain, no spaces, no control characters)."""
    local, at, domain = text.rpartition("@")
    return (
        bool(at)
        and 0 < len(text) <= MAX_ADDRESS
        and bool(local)
        and "@" not in local
        and "." in domain.strip(".")
        and text.isprintable()
        and not any(c.isspace() for c in text)
        and "," not in text
    )


#: G7: administrators always need two gates, never security questions; no
#: tenant setting weakens this.
ADMIN_POLICY = GatePolicy(
    methods=frozenset(Method) - {Method.QUESTIONS},
    required=2,
    registration_required=True,
)


@dataclasses.dataclass(frozen=True)
class Shortfall:
    """Why a user cannot pass the policy with what is on file (G6)."""

    required: int
    usable: int  # methods on file that the policy allows
    #: Allowed methods the user could register to make up the difference.
    could_register: tuple[Method, ...]


def factors(methods: Collection[Method]) -> int:
    """How many different things ``methods`` prove the user has (``Method.factor``)."""
    return len({m.factor for m in methods})


def usable(policy: GatePolicy, on_file: Collection[Method]) -> list[Method]:
    """The user's methods the policy allows, in the pages' order."""
    return [m for m in Method if m in policy.methods and m in on_file]


def shortfall(policy: GatePolicy, on_file: Collection[Method]) -> Shortfall | None:
    """What is missing for ``policy`` with ``on_file``; None when nothing is."""
    have = factors(usable(policy, on_file))
    if have >= policy.required:
        return None
    missing = tuple(m for m in Method if m in policy.methods and m not in on_file)
    return Shortfall(policy.required, have, missing)


def choices(
    policy: GatePolicy, on_file: Collection[Method], passed: Sequence[Method]
) -> list[Method]:
    """The methods the user may pass next: usable, and of nothing passed
    already (after a text to the mobile phone, not a call to it)."""
    done = {m.factor for m in passed}
    return [m for m in usable(policy, on_file) if m.factor not in done]


def satisfied(policy: GatePolicy, passed: Sequence[Method]) -> bool:
    """Whether the gates passed so far (each factor once) are enough."""
    return factors([m for m in passed if m in policy.methods]) >= policy.required
