"""Password policy attributes: a fine-grained policy (PSO) or the domain's (SPEC W4).

Pure: raw attribute values in, :class:`PasswordPolicy` out. An attribute that
did not come back means the service account may not read it; that is an error,
never "no rule".
"""

from __future__ import annotations

from collections.abc import Sequence

from passback.agent.directory.ad.filetime import interval_seconds
from passback.agent.directory.base import DirectoryConfigError, LockoutPolicy, PasswordPolicy
from passback.agent.directory.ldap.search import RawAttributes

PSO_ATTRIBUTES = [
    "cn",
    "msDS-MinimumPasswordLength",
    "msDS-PasswordComplexityEnabled",
    "msDS-PasswordHistoryLength",
    "msDS-MinimumPasswordAge",
    "msDS-MaximumPasswordAge",
]

DOMAIN_ATTRIBUTES = ["minPwdLength", "pwdProperties", "pwdHistoryLength", "minPwdAge", "maxPwdAge"]

DOMAIN_PASSWORD_COMPLEX = 0x1  # pwdProperties bit

#: When an account locks out (U4: a verify keeps clear of it).
PSO_LOCKOUT_ATTRIBUTES = ["cn", "msDS-LockoutThreshold", "msDS-LockoutObservationWindow"]
DOMAIN_LOCKOUT_ATTRIBUTES = ["lockoutThreshold", "lockOutObservationWindow"]

#: What to grant when PSO attributes cannot be read (AD and Samba restrict them
#: to Domain Admins by default).
PSO_READ_RIGHT = (
    "Read Property on 'CN=Password Settings Container,CN=System,<domain>' inherited "
    "to msDS-PasswordSettings objects"
)
DOMAIN_READ_RIGHT = "Read Property on the domain object (granted to Authenticated Users by default)"


def _required(
    attrs: RawAttributes, names: Sequence[str], what: str, right: str
) -> dict[str, bytes]:
    missing = [n for n in names if not attrs.get(n)]
    if missing:
        raise DirectoryConfigError(
            f"the service account cannot read {', '.join(missing)} of {what}; grant {right}"
        )
    return {n: attrs[n][0] for n in names}


def policy_from_pso(dn: str, attrs: RawAttributes) -> PasswordPolicy:
    """Raises DirectoryConfigError if the PSO's settings could not be read."""
    values = _required(attrs, PSO_ATTRIBUTES, f"password settings object {dn}", PSO_READ_RIGHT)
    return PasswordPolicy(
        source=f"pso:{values['cn'].decode()}",
        min_length=int(values["msDS-MinimumPasswordLength"]),
        complexity=values["msDS-PasswordComplexityEnabled"].upper() == b"TRUE",
        history_length=int(values["msDS-PasswordHistoryLength"]),
        min_age_seconds=interval_seconds(int(values["msDS-MinimumPasswordAge"])),
        max_age_seconds=interval_seconds(int(values["msDS-MaximumPasswordAge"])),
    )


def policy_from_domain(dn: str, attrs: RawAttributes) -> PasswordPolicy:
    """Raises DirectoryConfigError if the domain's settings could not be read."""
    values = _required(attrs, DOMAIN_ATTRIBUTES, f"the domain object {dn}", DOMAIN_READ_RIGHT)
    return PasswordPolicy(
        source="domain",
        min_length=int(values["minPwdLength"]),
        complexity=bool(int(values["pwdProperties"]) & DOMAIN_PASSWORD_COMPLEX),
        history_length=int(values["pwdHistoryLength"]),
        min_age_seconds=interval_seconds(int(values["minPwdAge"])),
        max_age_seconds=interval_seconds(int(values["maxPwdAge"])),
    )


def lockout_from_pso(dn: str, attrs: RawAttributes) -> LockoutPolicy:
    """Raises DirectoryConfigError if the PSO's lockout settings could not be read."""
    values = _required(
        attrs, PSO_LOCKOUT_ATTRIBUTES, f"password settings object {dn}", PSO_READ_RIGHT
    )
    return LockoutPolicy(
        threshold=int(values["msDS-LockoutThreshold"]),
        window_seconds=interval_seconds(int(values["msDS-LockoutObservationWindow"])),
    )


def lockout_from_domain(dn: str, attrs: RawAttributes) -> LockoutPolicy:
    """Raises DirectoryConfigError if the domain's lockout settings could not be read."""
    values = _required(
        attrs, DOMAIN_LOCKOUT_ATTRIBUTES, f"the domain object {dn}", DOMAIN_READ_RIGHT
    )
    return LockoutPolicy(
        threshold=int(values["lockoutThreshold"]),
        window_seconds=interval_seconds(int(values["lockOutObservationWindow"])),
    )
