"""``passback tenant``: create tenants and their tokens."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from passback.cli import store
from passback.crypto.masterkey import MasterKey
from passback.policy.gates import MAX_GATES, Method, Scope
from passback.server import admin_actions, agents, audit
from passback.server.console import admins
from passback.server.console.errors import ConsoleError
from passback.server.console.roles import Role
from passback.server.entitlements import DEFAULT_PLAN, Plan, plan_of
from passback.server.errors import NotFound, SlugTaken, UnknownTenant, Unprocessable
from passback.server.gate_policies import change_gate_policy, gate_policy
from passback.server.store.models import Tenant, utcnow
from passback.server.tenants import create_tenant, new_onboarding_token, set_banned


@click.group()
def tenant() -> None:
    """Create tenants and their tokens."""


@tenant.command("create")
@click.argument("name")
@click.option("--slug", default=None, help="The portal's URL part; default: from NAME.")
@click.option(
    "--admin-email",
    default=None,
    help="The first administrator's email: prints a one-time console set-up link for them.",
)
@click.option("--admin-name", default=None, help="The first administrator's name.")
@click.option(
    "--plan",
    type=click.Choice([p.value for p in Plan]),
    default=DEFAULT_PLAN.value,
    show_default=True,
    help="What the tenant may use (E1): free (the console), basic (+ administrators' "
    "own resets), premium (+ writeback for synced users).",
)
@store.data_dir_option
@store.database_option
@store.master_key_file_option
def tenant_create(
    name: str,
    slug: str | None,
    admin_email: str | None,
    admin_name: str | None,
    plan: str,
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
) -> None:
    """Create a tenant; prints its admin API token, a one-time onboarding
    token and, with --admin-email, the first administrator's set-up link.
    They are shown once and stored only hashed."""
    with store.open_session(data_dir, database_url) as session:
        master_key = store.master_key(session, data_dir, master_key_file)
        try:
            created = create_tenant(session, name, slug, master_key=master_key)
            row = session.get(Tenant, created.tenant_id)
            assert row is not None  # just created
            row.plan = plan
            invitation = (
                _invite(session, created.tenant_id, admin_email, admin_name, master_key)
                if admin_email
                else None
            )
        except (ValueError, SlugTaken) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"tenant id:        {created.tenant_id}")
    click.echo(f"portal:           /portal/{created.slug}/")
    click.echo(f"console:          /console/{created.slug}/")
    click.echo(f"admin API token:  {created.admin_token}")
    click.echo(f"onboarding token: {created.onboarding_token}")
    click.echo(f"plan:             {plan}")
    if invitation is not None:
        _echo_invitation(created.slug, invitation)
    click.echo("Keep these now: they are not shown again.", err=True)


@tenant.command("admin-link")
@click.argument("tenant_id")
@click.option("--email", required=True, help="The administrator's email (the sign-in name).")
@click.option("--name", default=None, help="The administrator's name; default: the email.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.TENANT_ADMIN.value,
    show_default=True,
)
@click.option(
    "--new-setup",
    is_flag=True,
    help="For an administrator who is set up already and lost the authenticator or "
    "the password (the last one, say): clear both; the link sets them again.",
)
@store.data_dir_option
@store.database_option
@store.master_key_file_option
def tenant_admin_link(
    tenant_id: str,
    email: str,
    name: str | None,
    role: str,
    new_setup: bool,
    data_dir: Path,
    database_url: str | None,
    master_key_file: Path | None,
) -> None:
    """A one-time console set-up link for an administrator of TENANT_ID who has
    none yet (or lost it before finishing), or, with --new-setup, who must set
    up again: the operator's way into a tenant's console."""
    with store.open_session(data_dir, database_url) as session:
        master_key = store.master_key(session, data_dir, master_key_file)
        row = session.get(Tenant, tenant_id)
        if row is None:
            raise click.ClickException(f"no tenant {tenant_id}")
        if new_setup:
            try:
                found = admins.active(session, tenant_id, admins.canonical_email(email))
            except ConsoleError as exc:
                raise click.ClickException(exc.english) from exc
            if found is None:
                raise click.ClickException(f"no active administrator {email} in this tenant")
            now = utcnow()
            invitation = admins.new_setup(
                session, found, by=None, master=master_key, now=now, operator=True
            )
            admin_actions.record_admin_event(
                session,
                admin_actions.Acting(tenant_id, via=admin_actions.OPERATOR),
                audit.Activity.ADMIN_CHANGE,
                now,
                changed=found.id,
                action="setup-link",
            )
        else:
            invitation = _invite(session, tenant_id, email, name, master_key, Role(role))
        session.commit()
    _echo_invitation(row.slug, invitation)


@tenant.command("revoke-agent")
@click.argument("tenant_id")
@click.argument("agent_id")
@store.data_dir_option
@store.database_option
def tenant_revoke_agent(
    tenant_id: str, agent_id: str, data_dir: Path, database_url: str | None
) -> None:
    """Revoke AGENT_ID of TENANT_ID for good. A running server closes its live
    link (4006) at the agent's next heartbeat; it can never connect again."""
    with store.open_session(data_dir, database_url) as session:
        try:
            now = utcnow()
            agents.revoke_agent(session, tenant_id, agent_id, now)
        except NotFound as exc:
            raise click.ClickException(f"tenant {tenant_id} has no agent {agent_id}") from exc
        admin_actions.record_admin_event(
            session,
            admin_actions.Acting(tenant_id, via=admin_actions.OPERATOR),
            audit.Activity.REVOKE_AGENT,
            now,
            agent=agent_id,
        )
        session.commit()
    click.echo(f"agent {agent_id} revoked")


def _invite(
    session: Session,
    tenant_id: str,
    email: str,
    name: str | None,
    master_key: MasterKey,
    role: Role = Role.TENANT_ADMIN,
) -> admins.Invitation:
    try:
        return admins.invite(
            session,
            tenant_id,
            email=email,
            name=name or email,
            role=role,
            invited_by=None,
            master=master_key,
            now=utcnow(),
        )
    except ConsoleError as exc:
        raise click.ClickException(exc.english) from exc


def _echo_invitation(slug: str, invitation: admins.Invitation) -> None:
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"set-up link:      {admins.setup_path(slug, invitation.token)}")
    click.echo(f"                  for {invitation.email}, once, until {expires}")


@tenant.command("onboarding-token")
@click.argument("tenant_id")
@store.data_dir_option
@store.database_option
def tenant_onboarding_token(tenant_id: str, data_dir: Path, database_url: str | None) -> None:
    """A new one-time onboarding token for another agent of TENANT_ID."""
    with store.open_session(data_dir, database_url) as session:
        try:
            token = new_onboarding_token(session, tenant_id)
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        session.commit()
    click.echo(token)


@tenant.command("plan")
@click.argument("tenant_id")
@click.argument("plan", type=click.Choice([p.value for p in Plan]), required=False)
@store.data_dir_option
@store.database_option
def tenant_plan(tenant_id: str, plan: str | None, data_dir: Path, database_url: str | None) -> None:
    """Show TENANT_ID's plan (E1), changed first to PLAN if given: free (the
    console and reports), basic (+ administrators' own resets), premium (+
    writeback for synced users: self-service and administrators' resets)."""
    with store.open_session(data_dir, database_url) as session:
        row = session.get(Tenant, tenant_id)
        if row is None:
            raise click.ClickException(f"no tenant {tenant_id}")
        if plan is not None and plan != row.plan:
            audit.record(
                session,
                tenant_id=row.id,
                user_id=None,
                activity=audit.Activity.CHANGE_PLAN,
                success=True,
                at=utcnow(),
                actor=audit.Actor.SYSTEM,
                changed=f"{row.plan} -> {plan}",
            )
            row.plan = plan
        shown = plan_of(row)
        session.commit()
    features = ", ".join(sorted(f.value for f in shown.features)) or "(none)"
    click.echo(f"plan:     {shown.value}")
    click.echo(f"features: {features}")


@tenant.command("password-policy")
@click.argument("tenant_id")
@click.option(
    "--refuse-common/--allow-common",
    default=None,
    help="Refuse common and easily guessed passwords before they reach the directory "
    "(on for a new tenant).",
)
@click.option(
    "--banned-word",
    "banned_words",
    multiple=True,
    help="A word no password may contain, besides the tenant's name and slug "
    "(repeat it; replaces the tenant's list).",
)
@click.option("--clear-banned-words", is_flag=True, help="Remove the tenant's own words.")
@store.data_dir_option
@store.database_option
def tenant_password_policy(
    tenant_id: str,
    refuse_common: bool | None,
    banned_words: tuple[str, ...],
    clear_banned_words: bool,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Set what TENANT_ID refuses as too easy to guess; prints the result."""
    if banned_words and clear_banned_words:
        raise click.UsageError("give --banned-word or --clear-banned-words, not both")
    words = [] if clear_banned_words else list(banned_words) or None
    with store.open_session(data_dir, database_url) as session:
        try:
            row = set_banned(session, tenant_id, refuse_common=refuse_common, banned_words=words)
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        refusing, own = row.refuse_common, row.banned_words.splitlines()
        session.commit()
    click.echo(f"refuse common passwords: {'yes' if refusing else 'no'}")
    click.echo(f"banned words:            {', '.join(own) or '(none besides name and slug)'}")


@tenant.command("policy")
@click.argument("tenant_id")
@click.option(
    "--methods",
    default=None,
    help="Methods users may prove who they are with, comma-separated: "
    + ", ".join(m.value for m in Method)
    + ".",
)
@click.option(
    "--gates", type=click.IntRange(1, MAX_GATES), default=None, help="Gates required: 1 or 2."
)
@click.option(
    "--questions-to-register", type=int, default=None, help="Security questions a user registers."
)
@click.option(
    "--questions-to-ask", type=int, default=None, help="Security questions asked at a reset."
)
@click.option(
    "--registration-required/--registration-optional",
    default=None,
    help="Users must register enough methods when they sign in.",
)
@click.option(
    "--reconfirm-days",
    type=int,
    default=None,
    help="Days until users confirm their methods again (0: never).",
)
@click.option(
    "--phone-region",
    default=None,
    help="Region (ISO 3166, e.g. BR) of phone numbers written without a country code; "
    '"" clears it.',
)
@click.option(
    "--admin-contacts",
    default=None,
    help='Comma-separated addresses a user no code reaches can ask for help (G5); "" clears them.',
)
@click.option(
    "--custom-question",
    "custom_questions",
    multiple=True,
    help='A security question of your own, "English" or "English | Português"; repeat '
    "for several. Replaces the tenant's list (a question whose English text stays keeps "
    "its answers).",
)
@click.option("--clear-custom-questions", is_flag=True, help="Forget the tenant's own questions.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default=None,
    help="Who may use self-service (G6): none, the members of --scope-group, or all.",
)
@click.option("--scope-group", default=None, help="The group's SID, for --scope group.")
@click.option(
    "--assignment-required/--assignment-optional",
    default=None,
    help="Users also need an administrator's assignment (E1).",
)
@click.option(
    "--notify-users/--no-notify-users",
    default=None,
    help="Mail users whose password was reset or account unlocked (G9).",
)
@click.option(
    "--notify-admins/--no-notify-admins",
    default=None,
    help="Mail every administrator when another's password is reset (G9).",
)
@store.data_dir_option
@store.database_option
def tenant_policy(
    tenant_id: str,
    methods: str | None,
    gates: int | None,
    questions_to_register: int | None,
    questions_to_ask: int | None,
    registration_required: bool | None,
    reconfirm_days: int | None,
    phone_region: str | None,
    admin_contacts: str | None,
    custom_questions: tuple[str, ...],
    clear_custom_questions: bool,
    scope: str | None,
    scope_group: str | None,
    assignment_required: bool | None,
    notify_users: bool | None,
    notify_admins: bool | None,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Show TENANT_ID's self-service policy, changed first by the options given."""
    changes: dict[str, object] = {
        name: value
        for name, value in (
            ("required", gates),
            ("questions_to_register", questions_to_register),
            ("questions_to_ask", questions_to_ask),
            ("registration_required", registration_required),
            ("reconfirm_days", reconfirm_days),
            ("scope", scope),
            ("scope_group", scope_group),
            ("assignment_required", assignment_required),
            ("notify_users", notify_users),
            ("notify_admins", notify_admins),
        )
        if value is not None
    }
    if methods is not None:
        changes["methods"] = [m.strip() for m in methods.split(",") if m.strip()]
    if phone_region is not None:
        changes["phone_region"] = phone_region.strip()
    if admin_contacts is not None:
        changes["admin_contacts"] = [a.strip() for a in admin_contacts.split(",") if a.strip()]
    if custom_questions or clear_custom_questions:
        changes["custom_questions"] = [
            {"en": en.strip(), "pt_br": pt.strip() or None}
            for en, _, pt in (q.partition("|") for q in custom_questions)
        ]
    with store.open_session(data_dir, database_url) as session:
        try:
            policy = (
                change_gate_policy(session, tenant_id, **changes)
                if changes
                else gate_policy(session, tenant_id)
            )
        except UnknownTenant as exc:
            raise click.ClickException(f"no tenant {tenant_id}") from exc
        except Unprocessable as exc:
            raise click.ClickException(f"not changed: {exc}") from exc
        session.commit()
    click.echo(
        f"methods:               {', '.join(m.value for m in Method if m in policy.methods)}"
    )
    click.echo(f"gates required:        {policy.required}")
    click.echo(
        f"security questions:    {policy.questions_to_register} to register, "
        f"{policy.questions_to_ask} asked"
    )
    click.echo(f"registration required: {'yes' if policy.registration_required else 'no'}")
    days = policy.reconfirm_days
    click.echo(f"re-confirm after:      {f'{days} days' if days else 'never'}")
    click.echo(f"phone region:          {policy.phone_region or '(none: numbers need +country)'}")
    click.echo(f"admin contacts:        {', '.join(policy.admin_contacts) or '(none)'}")
    click.echo(f"custom questions:      {len(policy.custom_questions) or '(none)'}")
    group = f" ({policy.scope_group})" if policy.scope is Scope.GROUP else ""
    click.echo(f"scope:                 {policy.scope.value}{group}")
    click.echo(f"assignment required:   {'yes' if policy.assignment_required else 'no'}")
    click.echo(f"notify users:          {'yes' if policy.notify_users else 'no'}")
    click.echo(f"notify admins:         {'yes' if policy.notify_admins else 'no'}")
    for question in policy.custom_questions:
        both = f"{question.en} | {question.pt_br}" if question.pt_br else question.en
        click.echo(f"  {question.id}  {both}")
