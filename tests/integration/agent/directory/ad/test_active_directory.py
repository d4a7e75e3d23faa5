"""ActiveDirectory against a real Samba AD DC, as the non-privileged service account.

Where Samba 4.17 is more permissive than AD (no policy hints, so no history or
minimum age on a reset; no SDProp), the tests pin what Samba does and check the
refusal texts Samba gives on a change instead; they never take Samba's "yes" as
proof that AD would agree.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import ldap3
import pytest

from passback.agent.directory.ad.active_directory import ActiveDirectory
from passback.agent.directory.ad.classify import classify_refusal
from passback.agent.directory.ad.settings import ADSettings
from passback.agent.directory.base import (
    LOCKOUT_RESERVE,
    CredentialsRefused,
    DirectoryConfigError,
    DirectoryUnavailable,
    DuplicateAnchor,
    LockoutPolicy,
    MultipleMatches,
    PasswordRefused,
    Protection,
    UserNotFound,
)
from passback.agent.sync import batches
from passback.protocol.outcomes import Outcome
from tests.support.samba import SERVICE_ACCOUNT, SambaDC, TestUser

pytestmark = pytest.mark.samba

NEW_PASSWORD = "New!Passw0rd-42"
ONE_DAY = 864_000_000_000  # 100-ns ticks


def settings_for(dc: SambaDC, **overrides: object) -> ADSettings:
    values: dict[str, object] = {
        "ldap_url": dc.ldaps_url,
        "bind_dn": dc.service_dn,
        "bind_password": dc.service_password,
        "ca_file": dc.ca_file,
        "tls_server_name": dc.tls_name,
        "search_base": dc.managed_ou,
    }
    values.update(overrides)
    return ADSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ad(samba_dc: SambaDC) -> Iterator[ActiveDirectory]:
    directory = ActiveDirectory(settings_for(samba_dc))
    yield directory
    directory.close()


def change_as_user(dc: SambaDC, user: TestUser, old: str, new: str) -> tuple[int, str]:
    """A voluntary change (delete old + add new) as the user: the only way to see
    Samba's history and minimum-age texts, which a reset never triggers."""
    conn = dc.connect(user.dn, old)
    enc = [f'"{p}"'.encode("utf-16-le") for p in (old, new)]
    ops = [(ldap3.MODIFY_DELETE, [enc[0]]), (ldap3.MODIFY_ADD, [enc[1]])]
    conn.modify(user.dn, {"unicodePwd": ops})
    conn.unbind()
    return conn.result["result"], conn.result["message"]


# -- capabilities (W4, W7) ----------------------------------------------------


def test_capabilities_find_the_pdc_and_no_policy_hints_on_samba_417(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W7: the PDC emulator comes from fSMORoleOwner; W4: Samba 4.17 advertises
    no policy-hints control, so history is not enforced on a reset."""
    caps = ad.capabilities()
    assert not caps.policy_hints
    assert not caps.history_on_reset
    assert caps.max_password_length == 256
    assert caps.writes_to.lower() == samba_dc.tls_name.lower()


# -- locate (W6) ------------------------------------------------------------


def test_locate_by_object_guid(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    found = ad.locate(user.object_guid)
    assert found.dn == user.dn
    assert found.anchor == user.object_guid
    assert found.sam_account_name == user.name
    assert found.user_principal_name == f"{user.name}@passback.test"
    assert found.mail == f"{user.name}@example.test"
    assert (found.enabled, found.locked, found.protected) == (True, False, False)
    assert found.password_stamp > 0


def test_locate_by_consistency_guid(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    """W6: ms-DS-ConsistencyGuid, when set, is the anchor; bytes that need
    escaping in a filter (NUL, '*', '(', ')', '\\') are found too."""
    anchor = b"\x00*()\\" + os.urandom(11)
    user = samba_dc.create_user(consistency_guid=anchor)
    found = ad.locate(anchor)
    assert (found.dn, found.anchor) == (user.dn, anchor)


def test_deleted_user_is_not_found_33002(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.delete_user(user)
    with pytest.raises(UserNotFound) as caught:
        ad.locate(user.object_guid)
    assert caught.value.outcome is Outcome.USER_NOT_FOUND


def test_two_enabled_accounts_with_one_anchor_are_multiple_matches_33003(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    anchor = os.urandom(16)
    samba_dc.create_user(consistency_guid=anchor)
    samba_dc.create_user(consistency_guid=anchor)
    with pytest.raises(MultipleMatches) as caught:
        ad.locate(anchor)
    assert caught.value.outcome is Outcome.MULTIPLE_MATCHES


def test_the_one_enabled_account_of_several_is_the_match(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W6: the same person in several places; the enabled account is linked."""
    anchor = os.urandom(16)
    samba_dc.create_user(consistency_guid=anchor, disabled=True)
    enabled = samba_dc.create_user(consistency_guid=anchor)
    assert ad.locate(anchor).dn == enabled.dn


def test_object_guid_of_a_user_anchored_elsewhere_is_not_found_33002(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W6: once ms-DS-ConsistencyGuid is set, it alone is the anchor; the
    objectGUID finds the object but designates nothing (not a duplicate)."""
    user = samba_dc.create_user(consistency_guid=os.urandom(16))
    with pytest.raises(UserNotFound) as caught:
        ad.locate(user.object_guid)
    assert caught.value.outcome is Outcome.USER_NOT_FOUND


def test_several_disabled_accounts_with_one_anchor_are_a_duplicate_anchor_80230402(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    anchor = os.urandom(16)
    samba_dc.create_user(consistency_guid=anchor, disabled=True)
    samba_dc.create_user(consistency_guid=anchor, disabled=True)
    with pytest.raises(DuplicateAnchor) as caught:
        ad.locate(anchor)
    assert caught.value.outcome is Outcome.DUPLICATE_ANCHOR


def test_disabled_account_is_flagged_33005(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user(disabled=True)
    assert ad.locate(user.object_guid).enabled is False


def test_locked_out_account_is_flagged_33006(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    assert ad.locate(user.object_guid).locked is True


def test_domain_admin_in_the_managed_ou_is_protected_via_token_groups(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W5: Samba sets no adminCount (no SDProp); tokenGroups still shows Domain
    Admins and, nested, Administrators."""
    admin = samba_dc.create_user(domain_admin=True)
    assert samba_dc.read(admin.dn, "adminCount")["adminCount"] == []
    found = ad.locate(admin.object_guid)
    assert found.protected is True
    with pytest.raises(PasswordRefused) as caught:
        ad.reset_password(found, NEW_PASSWORD, unlock=False)
    assert caught.value.outcome is Outcome.PROTECTED
    assert samba_dc.can_bind(admin.dn, admin.password)


def refused_without_writing(
    ad: ActiveDirectory, dc: SambaDC, dn: str, password: str, protection: Protection
) -> None:
    """Locate by objectGUID, try a reset: refused as ``protection``, and the old
    password still binds (``old password allowed period = 0`` on the tests' DC)."""
    found = ad.locate(dc.object_guid(dn))
    assert found.protection is protection
    before = dc.read(dn, "pwdLastSet")["pwdLastSet"]
    with pytest.raises(PasswordRefused) as caught:
        ad.reset_password(found, NEW_PASSWORD, unlock=True)
    assert caught.value.outcome is Outcome.PROTECTED
    assert caught.value.detail == {"reason": str(protection)}
    assert dc.read(dn, "pwdLastSet")["pwdLastSet"] == before
    assert dc.can_bind(dn, password)
    assert not dc.can_bind(dn, NEW_PASSWORD)


def test_the_service_account_is_never_written_nor_synced(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """The agent's own bind account lies in the managed OU here: a reset of it
    would break writeback at the next bind and hand its password to the caller."""
    refused_without_writing(
        ad, samba_dc, samba_dc.service_dn, samba_dc.service_password, Protection.SERVICE_ACCOUNT
    )
    synced = {u.sam_account_name for b in batches(ad.iter_users(), "s") for u in b.users}
    assert SERVICE_ACCOUNT not in synced and synced  # others are there


def test_the_service_account_is_known_by_sid_however_its_dn_is_spelled(
    samba_dc: SambaDC,
) -> None:
    spelled = samba_dc.service_dn.lower()
    directory = ActiveDirectory(settings_for(samba_dc, bind_dn=spelled))
    try:
        found = directory.locate(samba_dc.object_guid(samba_dc.service_dn))
    finally:
        directory.close()
    assert found.protection is Protection.SERVICE_ACCOUNT


def test_an_admin_count_account_is_refused_and_still_synced(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W5: adminCount=1 (what SDProp sets on AD; Samba has no SDProp, so it is
    set by hand here) is refused with `protected`; it is still synced so the
    portal can say why."""
    user = samba_dc.create_user()
    admin = samba_dc.admin()
    assert admin.modify(user.dn, {"adminCount": [(ldap3.MODIFY_REPLACE, ["1"])]}), admin.result
    refused_without_writing(ad, samba_dc, user.dn, user.password, Protection.PROTECTED_GROUP)
    synced = {u.sam_account_name for b in batches(ad.iter_users(), "s") for u in b.users}
    assert user.name in synced


def test_critical_system_accounts_are_never_written_nor_synced(samba_dc: SambaDC) -> None:
    """isCriticalSystemObject TRUE (Samba refuses to set it over LDAP, so the
    built-in accounts stand in): with the whole domain as search base,
    Administrator is refused and Administrator, Guest and krbtgt are not synced."""
    directory = ActiveDirectory(settings_for(samba_dc, search_base=samba_dc.domain_dn))
    try:
        administrator = f"CN=Administrator,CN=Users,{samba_dc.domain_dn}"
        refused_without_writing(
            directory, samba_dc, administrator, samba_dc.admin_password, Protection.CRITICAL
        )
        users = list(directory.iter_users())
    finally:
        directory.close()
    critical = {u.sam_account_name for u in users if u.protection is Protection.CRITICAL}
    assert {"Administrator", "Guest", "krbtgt"} <= critical
    synced = {u.sam_account_name for b in batches(users, "s") for u in b.users}
    assert synced and not critical & synced
    assert SERVICE_ACCOUNT not in synced


# -- reset (W4) ---------------------------------------------------------------


def test_reset_sets_the_password_31002(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    ad.reset_password(ad.locate(user.object_guid), NEW_PASSWORD, unlock=False)
    assert samba_dc.can_bind(user.dn, NEW_PASSWORD)
    assert not samba_dc.can_bind(user.dn, user.password)


def test_too_short_names_the_minimum_33008(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = ad.locate(samba_dc.create_user().object_guid)
    with pytest.raises(PasswordRefused) as caught:
        ad.reset_password(user, "Ab1!", unlock=False)
    refused = caught.value
    assert refused.outcome is Outcome.TOO_SHORT
    assert refused.detail == {"min_length": 7}
    assert refused.server_message and refused.server_message.startswith("0000052D")
    assert "Ab1!" not in str(refused)


def test_not_complex_33008(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = ad.locate(samba_dc.create_user().object_guid)
    with pytest.raises(PasswordRefused) as caught:
        ad.reset_password(user, "abcdefghijkl", unlock=False)
    assert caught.value.outcome is Outcome.NOT_COMPLEX


def test_fine_grained_policy_applies_to_its_user_only(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W4: a PSO of minimum length 12 on one user; a 10-character password is too
    short for them and fine for anyone else."""
    strict = samba_dc.create_user()
    other = samba_dc.create_user()
    pso = f"pso-{strict.name}"
    samba_dc.create_pso(pso, 10, min_pwd_length=12)
    samba_dc.apply_pso(pso, strict)
    try:
        strict_user = ad.locate(strict.object_guid)
        policy = ad.password_policy(strict_user)
        assert (policy.source, policy.min_length, policy.complexity) == (f"pso:{pso}", 12, True)
        assert ad.password_policy(ad.locate(other.object_guid)).source == "domain"
        with pytest.raises(PasswordRefused) as caught:
            ad.reset_password(strict_user, "Ten!Chars1", unlock=False)
        assert caught.value.outcome is Outcome.TOO_SHORT
        assert caught.value.detail == {"min_length": 12}
        ad.reset_password(ad.locate(other.object_guid), "Ten!Chars1", unlock=False)
        assert samba_dc.can_bind(other.dn, "Ten!Chars1")
    finally:
        samba_dc.delete_pso(pso)


def verify_outcome(
    ad: ActiveDirectory, user: TestUser, password: str, reserve: int = LOCKOUT_RESERVE
) -> Outcome:
    """What a verify of ``password`` answers (the account located afresh, as
    each verify does)."""
    opened = ad.open_for_verify()
    try:
        located = ad.locate(user.object_guid, failed_logons=True)
        ad.verify_password(located, password, opened, reserve=reserve)
    except CredentialsRefused as refused:
        return refused.outcome
    finally:
        opened.close()  # not bound on when the verify was not tried (as the agent does)
    return Outcome.OK


def test_a_verify_keeps_clear_of_the_lockout(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    """U4, T1: strangers' wrong passwords in the portal never lock the account
    out. A PSO locks after 5 failures: the agent binds while a failure still
    leaves the owner 2 before the one that locks, then not at all (33010), not
    even with the right password. The account stays unlocked; the owner's own
    browser (reserve 0) is still checked, and the owner's logon resets the
    count."""
    user = samba_dc.create_user()
    pso = f"pso-{user.name}"
    samba_dc.create_pso(pso, 10, account_lockout_threshold=5, reset_account_lockout_after=30)
    samba_dc.apply_pso(pso, user)
    try:
        assert ad.lockout_policy(ad.locate(user.object_guid)) == LockoutPolicy(5, 1800)
        wrong = [verify_outcome(ad, user, f"Wrong!Passw0rd-{n}") for n in range(4)]
        assert wrong == [Outcome.WRONG_PASSWORD] * 2 + [Outcome.NEAR_LOCKOUT] * 2
        assert verify_outcome(ad, user, user.password) is Outcome.NEAR_LOCKOUT
        located = ad.locate(user.object_guid, failed_logons=True)
        assert (located.bad_password_count, located.locked) == (2, False)
        assert ad.locate(user.object_guid).bad_password_count is None  # not asked: not read
        # the owner's own browser: tried while a failure cannot lock (counts 2, 3)
        owners = [verify_outcome(ad, user, f"Typo!Passw0rd-{n}", reserve=0) for n in range(3)]
        assert owners == [Outcome.WRONG_PASSWORD] * 2 + [Outcome.NEAR_LOCKOUT]
        assert not samba_dc.is_locked(user)
        assert samba_dc.can_bind(user.dn, user.password)  # the owner's logon elsewhere
        assert verify_outcome(ad, user, user.password) is Outcome.OK
    finally:
        samba_dc.delete_pso(pso)


def test_a_verify_of_a_locked_account_says_locked(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    """Locked already (the domain's 3 failures, typed elsewhere): the bind
    says so, whatever the count."""
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    assert verify_outcome(ad, user, user.password) is Outcome.LOCKED


def test_pso_unreadable_by_the_account_is_a_config_error(samba_dc: SambaDC) -> None:
    """A plain user lacks Read Property on the Password Settings Container: the
    PSO comes back without attributes, which must not read as "no rule"."""
    reader = samba_dc.create_user()
    target = samba_dc.create_user()
    pso = f"pso-{target.name}"
    samba_dc.create_pso(pso, 10, min_pwd_length=9)
    samba_dc.apply_pso(pso, target)
    directory = ActiveDirectory(
        settings_for(samba_dc, bind_dn=reader.dn, bind_password=reader.password)
    )
    try:
        with pytest.raises(DirectoryConfigError, match="Password Settings Container"):
            directory.password_policy(directory.locate(target.object_guid))
        # A verify of an account with a failed logon, whose lockout cannot be
        # read: not tried (kept clear of the lockout all the same), and says why.
        assert not samba_dc.can_bind(target.dn, "Wrong!Passw0rd-0")
        assert verify_outcome(directory, target, target.password) is Outcome.NEAR_LOCKOUT
    finally:
        directory.close()
        samba_dc.delete_pso(pso)


def test_history_is_not_enforced_on_a_reset_without_policy_hints(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W4: without the policy-hints control (Samba 4.17) a reset may reuse a
    password in history; AD with the control refuses it. The refusal text Samba
    gives on a change is classified as IN_HISTORY (33008)."""
    user = samba_dc.create_user()
    with samba_dc.domain_password_settings(pwdHistoryLength=5):
        located = ad.locate(user.object_guid)
        assert ad.password_policy(located).history_length == 5
        ad.reset_password(located, NEW_PASSWORD, unlock=False)
        ad.reset_password(located, user.password, unlock=False)  # back to an old one
        assert samba_dc.can_bind(user.dn, user.password)
        code, text = change_as_user(samba_dc, user, user.password, NEW_PASSWORD)
    assert code == 19
    assert classify_refusal(code, text).outcome is Outcome.IN_HISTORY


def test_minimum_age_is_not_enforced_on_a_reset(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    """W4: minimum age binds changes, not resets (AD and Samba alike); the
    change's text is classified as TOO_YOUNG (33008)."""
    user = samba_dc.create_user()
    with samba_dc.domain_password_settings(minPwdAge=-ONE_DAY):
        located = ad.locate(user.object_guid)
        assert ad.password_policy(located).min_age_seconds == 86_400
        ad.reset_password(located, NEW_PASSWORD, unlock=False)
        code, text = change_as_user(samba_dc, user, NEW_PASSWORD, "Other!Passw0rd-7")
    assert classify_refusal(code, text).outcome is Outcome.TOO_YOUNG


def test_reset_with_unlock_unlocks_33006(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    user = samba_dc.create_user()
    samba_dc.lock_out(user)
    # Samba resets a locked account and leaves it locked (AD-like): unlock is explicit.
    ad.reset_password(ad.locate(user.object_guid), "Still!Locked-1", unlock=False)
    assert samba_dc.is_locked(user)
    ad.reset_password(ad.locate(user.object_guid), NEW_PASSWORD, unlock=True)
    assert not samba_dc.is_locked(user)
    assert samba_dc.can_bind(user.dn, NEW_PASSWORD)


def test_reset_with_must_change_makes_the_next_logon_change_it(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """W3: an administrator's reset with "must change at next logon": one write;
    the new password is right, yet it signs in only to be changed (773)."""
    user = samba_dc.create_user()
    ad.reset_password(ad.locate(user.object_guid), NEW_PASSWORD, unlock=False, must_change=True)
    with pytest.raises(CredentialsRefused) as refused:
        ad.verify_password(ad.locate(user.object_guid), NEW_PASSWORD)
    assert refused.value.outcome is Outcome.MUST_CHANGE


def test_user_outside_the_delegated_ou_is_access_denied_33004(samba_dc: SambaDC) -> None:
    user = samba_dc.create_user(ou=f"CN=Users,{samba_dc.domain_dn}")
    directory = ActiveDirectory(settings_for(samba_dc, search_base=samba_dc.domain_dn))
    try:
        with pytest.raises(PasswordRefused) as caught:
            directory.reset_password(directory.locate(user.object_guid), NEW_PASSWORD, unlock=False)
    finally:
        directory.close()
    assert caught.value.outcome is Outcome.ACCESS_DENIED
    assert "Reset Password" in str(caught.value)


def test_iter_users_pages_through_the_managed_ou(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    created = {samba_dc.create_user().dn for _ in range(3)}
    seen = {u.dn: u for u in ad.iter_users()}
    assert created <= seen.keys()
    assert seen[samba_dc.service_dn].protection is Protection.SERVICE_ACCOUNT
    assert all(seen[dn].protection is None for dn in created)


def test_iter_users_with_a_missing_search_base_raises(samba_dc: SambaDC) -> None:
    """A refused search is an error, never "no users": a full sync would
    otherwise tell the server that every user is gone."""
    missing = f"OU=Nowhere,{samba_dc.domain_dn}"
    directory = ActiveDirectory(settings_for(samba_dc, search_base=missing))
    try:
        with pytest.raises(DirectoryConfigError, match="does not exist"):
            list(directory.iter_users())
        # the connection went back to the pool and still works
        assert directory.capabilities().writes_to.lower() == samba_dc.tls_name.lower()
    finally:
        directory.close()


def test_iter_users_of_an_empty_ou_yields_nothing(samba_dc: SambaDC) -> None:
    """An empty search base is a successful search with no entries."""
    empty = f"CN=Computers,{samba_dc.domain_dn}"
    directory = ActiveDirectory(settings_for(samba_dc, search_base=empty))
    try:
        assert list(directory.iter_users()) == []
    finally:
        directory.close()


# -- pwdLastSet on the PDC (W7) ----------------------------------------------


def test_password_stamp_shows_a_reset_at_once(ad: ActiveDirectory, samba_dc: SambaDC) -> None:
    """Crash recovery compares pwdLastSet read where the write went (the PDC)."""
    located = ad.locate(samba_dc.create_user().object_guid)
    before = ad.password_stamp(located)
    assert before == located.password_stamp > 0
    ad.reset_password(located, NEW_PASSWORD, unlock=False)
    assert ad.password_stamp(located) > before


def test_password_stamp_of_a_deleted_user_is_not_found(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user()
    located = ad.locate(user.object_guid)
    samba_dc.delete_user(user)
    with pytest.raises(UserNotFound):
        ad.password_stamp(located)


# -- connections and TLS ---------------------------------------------------


def test_pool_survives_the_dc_closing_its_connections(samba_dc: SambaDC) -> None:
    """The pool's connections and the spare a password check opened ahead
    alike: a restart of the DC closes them, the next operations open others."""
    directory = ActiveDirectory(settings_for(samba_dc))
    try:
        user = samba_dc.create_user()
        found = directory.locate(user.object_guid)
        directory.capabilities()
        directory.verify_password(found, user.password, directory.open_for_verify())
        spare = directory._reads._spare
        assert spare is not None
        spare.future.result(timeout=10)  # open when the DC restarts
        samba_dc.restart()
        located = directory.locate(user.object_guid)
        directory.verify_password(located, user.password, directory.open_for_verify())
        directory.reset_password(located, NEW_PASSWORD, unlock=False)
        assert samba_dc.can_bind(user.dn, NEW_PASSWORD)
    finally:
        directory.close()


def test_tls_name_mismatch_is_refused_clearly(samba_dc: SambaDC) -> None:
    directory = ActiveDirectory(settings_for(samba_dc, tls_server_name="wrong.passback.test"))
    try:
        with pytest.raises(DirectoryUnavailable, match="TLS verification"):
            directory.capabilities()
    finally:
        directory.close()


def test_wrong_service_password_is_reported_as_a_refused_bind(samba_dc: SambaDC) -> None:
    directory = ActiveDirectory(settings_for(samba_dc, bind_password="Not!The-Passw0rd"))
    try:
        with pytest.raises(DirectoryUnavailable, match="bind") as caught:
            directory.capabilities()
        assert "Not!The-Passw0rd" not in str(caught.value)
    finally:
        directory.close()


def test_plain_ldap_is_refused(samba_dc: SambaDC) -> None:
    with pytest.raises(DirectoryConfigError, match="ldaps://"):
        settings_for(samba_dc, ldap_url="ldap://127.0.0.1:389")


# -- a password check on a connection opened ahead (U4) ----------------------


def test_verify_on_a_connection_opened_while_the_user_is_located(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user()
    opened = ad.open_for_verify()
    found = ad.locate(user.object_guid)
    ad.verify_password(found, user.password, opened)
    with pytest.raises(RuntimeError, match="one bind"):
        ad.verify_password(found, user.password, opened)
    wrong = ad.open_for_verify()
    with pytest.raises(CredentialsRefused) as caught:
        ad.verify_password(found, "Wrong!Passw0rd-9", wrong)
    assert caught.value.outcome is Outcome.WRONG_PASSWORD
    unused = ad.open_for_verify()
    unused.close()
    unused.close()  # once is enough; closing twice does nothing


def test_the_next_check_binds_on_a_spare_and_one_found_closed_is_replaced(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """After a check the pool opens the next one's connection (TLS included), so
    that a sign-in waits for its bind only. A spare the DC closed meanwhile (its
    idle limit, a restart) is replaced before anything is sent on it: the wrong
    password counts once."""
    user = samba_dc.create_user()
    found = ad.locate(user.object_guid)
    ad.verify_password(found, user.password, ad.open_for_verify())
    spare = ad._reads._spare
    assert spare is not None
    closed_by_dc = spare.future.result(timeout=10)
    closed_by_dc.socket.shutdown(socket.SHUT_RDWR)
    with pytest.raises(CredentialsRefused) as caught:
        ad.verify_password(found, "Wrong!Passw0rd-9", ad.open_for_verify())
    assert caught.value.outcome is Outcome.WRONG_PASSWORD
    assert closed_by_dc.user is None and closed_by_dc.socket.fileno() == -1  # never bound on
    assert samba_dc.read(user.dn, "badPwdCount")["badPwdCount"] == [b"1"]
    spare = ad._reads._spare
    assert spare is not None
    ad.verify_password(found, user.password, ad.open_for_verify())
    assert spare.future.result().user == found.dn  # the bind went out on the spare


def test_a_connection_opened_ahead_to_an_unreachable_dc_fails_at_the_bind(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    user = samba_dc.create_user()
    found = ad.locate(user.object_guid)
    nowhere = ActiveDirectory(
        settings_for(samba_dc, ldap_url=f"ldaps://{samba_dc.address}:1", connect_timeout=2)
    )
    try:
        opened = nowhere.open_for_verify()
        with pytest.raises(DirectoryUnavailable):
            nowhere.verify_password(found, user.password, opened)
    finally:
        nowhere.close()


def test_a_users_groups_include_the_enclosing_ones_and_groups_are_listed(
    ad: ActiveDirectory, samba_dc: SambaDC
) -> None:
    """G6: a member of Sales, which is a member of Staff, is in Staff too
    (tokenGroups); the domain's security groups are listed with their names,
    distribution groups (never in a token) are not."""
    user = samba_dc.create_user()
    sales, sales_dn = samba_dc.create_group(user.dn)
    staff, staff_dn = samba_dc.create_group(sales_dn)
    mailing, _ = samba_dc.create_group(user.dn, security=False)
    found = ad.locate(user.object_guid)
    sids = {name: samba_dc.object_sid(dn) for name, dn in ((sales, sales_dn), (staff, staff_dn))}
    assert set(sids.values()) <= found.groups
    domain_users = f"{samba_dc.object_sid(samba_dc.admin_dn).rsplit('-', 1)[0]}-513"
    assert domain_users in found.groups  # the primary group
    listed = {g.name: g.sid for g in ad.iter_groups()}
    assert {n: listed.get(n) for n in sids} == sids
    assert mailing not in listed and "Domain Users" in listed
    [synced] = [u for b in batches([found], "s", ad.iter_groups()) for u in b.users if u.anchor]
    assert set(sids.values()) <= set(synced.groups)
