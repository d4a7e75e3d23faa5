"""Phone gates (SPEC G1, G3, G4, T1, T2): a code by text message or voice call
to the directory's mobile or office number, after the user typed that number
in full. The server's phone provider is the outbox (a folder)."""

from __future__ import annotations

import asyncio

import httpx

from passback.server.portal.flow import MAX_MAILS_PER_USER_PER_CLIENT
from tests.support.portal import (
    BASE,
    MAIL,
    csrf,
    enter_code,
    from_address,
    phone_code,
    phoned,
    portal_tenant,
    rows,
)
from tests.support.server import AgentFactory, RunningServer, bearer
from tests.support.smtp import MailCatcher

PHONES = ["email", "mobile_sms", "mobile_voice", "office_voice"]
MOBILE = "(11) 91234-5678"  # as a directory holds it, without a country code
TYPED = "+55 11 91234-5678"  # as the user types it: in full (G4)
OFFICE = "+55 11 3333-4444 ext. 12"


async def set_policy(client: httpx.AsyncClient, admin_token: str, **body: object) -> None:
    changed = await client.patch("/api/v1/policy", headers=bearer(admin_token), json=body)
    assert changed.status_code == 200, changed.text


async def start_and_choose(client: httpx.AsyncClient, method: str, username: str = "jdoe") -> None:
    started = await client.post(f"{BASE}/", data={"username": username})
    assert started.headers["location"] == f"{BASE}/method", started.text
    page = await client.get(f"{BASE}/method")
    chosen = await client.post(f"{BASE}/method", data={"method": method, "csrf": csrf(page)})
    assert chosen.headers["location"] == f"{BASE}/number", chosen.text


async def type_number(client: httpx.AsyncClient, number: str) -> httpx.Response:
    page = await client.get(f"{BASE}/number")
    assert 'name="number"' in page.text, page.text
    return await client.post(f"{BASE}/number", data={"number": number, "csrf": csrf(page)})


async def test_a_code_by_text_message_after_the_number_typed_in_full(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent, mobile=MOBILE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        await client.post(f"{BASE}/", data={"username": "jdoe"})
        page = await client.get(f"{BASE}/method")
        for method in PHONES:
            assert f'value="{method}"' in page.text
        assert "A code by text message to my mobile phone" in page.text
        await client.post(f"{BASE}/method", data={"method": "mobile_sms", "csrf": csrf(page)})
        number_page = await client.get(f"{BASE}/number")
        assert "Text my mobile phone" in number_page.text and "•" not in number_page.text

        not_a_number = await type_number(client, "my phone")
        assert not_a_number.headers["location"] == f"{BASE}/number"
        shown = await client.get(f"{BASE}/number")
        assert shown.status_code == 422 and "for example +55 11 91234 5678" in shown.text
        wrong = await type_number(client, "+55 11 91234 0000")
        assert wrong.headers["location"] == f"{BASE}/number"
        shown = await client.get(f"{BASE}/number")
        assert shown.status_code == 422 and "not the number on file" in shown.text
        assert await phoned(server, 0) == []  # nothing is sent to a wrong number

        right = await type_number(client, "+55 11 91234-5678")  # any spacing
        assert right.headers["location"] == f"{BASE}/code"
        (text,) = await phoned(server)
        assert (text["to"], text["channel"], text["language"]) == ("+5511912345678", "sms", "en")
        assert str(text["text"]).startswith("Acme password reset code: ")
        code_page = await client.get(f"{BASE}/code")
        assert "ending in 78" in code_page.text and "Code from the text message" in code_page.text
        assert "Text the code again" in code_page.text and "No code yet?" in code_page.text
        passed = await enter_code(client, phone_code(text))
        assert passed.headers["location"] == f"{BASE}/password"
    assert mail.to(MAIL) == []
    assert rows(server, "SELECT gates_passed FROM portal_flows") == [("mobile_sms",)]
    events = rows(
        server,
        "SELECT method, result, detail_json FROM audit_events WHERE activity = 'gate' ORDER BY at",
    )
    assert events == [
        ("mobile_sms", "failure", '{"check": "number"}'),
        ("mobile_sms", "success", '{"check": "number"}'),
        ("mobile_sms", "success", "{}"),
    ]


async def test_a_voice_call_to_the_office_phone_never_dials_the_extension(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    async with portal_tenant(server, client, make_agent, telephone=OFFICE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES)
        await start_and_choose(client, "office_voice")
        assert "Call my office phone" in (await client.get(f"{BASE}/number")).text
        right = await type_number(client, "+55 (11) 3333 4444")
        assert right.headers["location"] == f"{BASE}/code"
        (call,) = await phoned(server)
        assert (call["to"], call["channel"]) == ("+551133334444", "voice")
        assert "1 2" in str(call["text"]) or " " in str(call["text"])  # read digit by digit
        code_page = await client.get(f"{BASE}/code")
        assert "We are calling the number ending in 44" in code_page.text
        passed = await enter_code(client, phone_code(call))
        assert passed.headers["location"] == f"{BASE}/password"


async def test_no_number_on_file_and_an_unknown_user_answer_as_a_wrong_number(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T2: the choice, the number page and the answer are the same whether the
    username exists or has a number; nothing is sent."""
    async with portal_tenant(server, client, make_agent) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        answers = []
        for username in ("jdoe", "nobody"):
            async with httpx.AsyncClient(base_url=server.base_url) as someone:
                await start_and_choose(someone, "mobile_voice", username)
                typed = await type_number(someone, TYPED)
                assert typed.headers["location"] == f"{BASE}/number"
                page = await someone.get(f"{BASE}/number")
                answers.append((page.status_code, page.text.replace(csrf(page), "")))
        assert answers[0][0] == 422 and "not the number on file" in answers[0][1]
        assert [a[0] for a in answers] == [422, 422]
        assert await phoned(server, 0) == []


async def test_five_wrong_numbers_block_phone_gates_from_that_address_only(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T1, G4: 5 numbers typed wrong within an hour for one account from one
    address block phone gates there for 24 hours; the owner, elsewhere, still
    gets the code (a stranger cannot lock them out)."""
    async with portal_tenant(server, client, make_agent, mobile=MOBILE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        async with from_address(server, "127.0.0.2") as stranger:
            await start_and_choose(stranger, "mobile_sms")
            for last in range(4):
                wrong = await type_number(stranger, f"+55 11 91234 000{last}")
                assert wrong.headers["location"] == f"{BASE}/number"
                assert (await stranger.get(f"{BASE}/number")).status_code == 422
            fifth = await type_number(stranger, "+55 11 91234 0009")
            assert fifth.headers["location"] == f"{BASE}/number"
            blocked = await stranger.get(f"{BASE}/number")
            assert blocked.status_code == 429 and "blocked from your network until" in blocked.text
            # the right number from there is blocked too, and a new flow cannot choose a phone
            assert (await type_number(stranger, TYPED)).headers["location"] == f"{BASE}/number"
            await stranger.post(f"{BASE}/", data={"username": "jdoe"})
            page = await stranger.get(f"{BASE}/method")
            again = await stranger.post(
                f"{BASE}/method", data={"method": "mobile_voice", "csrf": csrf(page)}
            )
            assert again.headers["location"] == f"{BASE}/method"
            assert (await stranger.get(f"{BASE}/method")).status_code == 429
        assert await phoned(server, 0) == []
        async with from_address(server, "127.0.0.3") as owner:
            await start_and_choose(owner, "mobile_sms")
            assert (await type_number(owner, TYPED)).headers["location"] == f"{BASE}/code"
            assert len(await phoned(server)) == 1
        lifted = await client.delete(
            "/api/v1/users/jdoe/blocks", headers=bearer(tenant.admin_token)
        )
        assert lifted.json() == {"lifted": 1}
    assert rows(
        server,
        "SELECT json_extract(detail_json, '$.scope') FROM audit_events WHERE activity = 'block'",
    ) == [("phone",)]


async def test_a_provider_that_fails_leaves_a_support_record_and_no_way_through(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    assert server.outbox is not None
    server.outbox.write_text("not a folder")  # every message now fails
    async with portal_tenant(server, client, make_agent, mobile="+5511912345678") as (tenant, _):
        await set_policy(client, tenant.admin_token, methods=PHONES)
        await start_and_choose(client, "mobile_sms")
        assert (await type_number(client, "+5511912345678")).headers["location"] == f"{BASE}/code"
        for _ in range(100):
            recorded = rows(server, "SELECT error, method FROM support_records")
            if recorded:
                break
            await asyncio.sleep(0.05)
        assert rows(server, "SELECT blocked FROM portal_flows") == [("phone_failed",)]
        assert rows(server, "SELECT error, method FROM support_records") == [
            ("phone_failed", "SMS")
        ]
        wrong = await enter_code(client, "12345678")
        assert wrong.status_code == 422  # even the right code could not pass now


async def test_the_json_api_asks_for_the_number_too(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    api = "/api/v1/portal/acme/reset"
    async with portal_tenant(server, client, make_agent, mobile="+5511912345678") as (tenant, _):
        await set_policy(client, tenant.admin_token, methods=PHONES)
        started = await client.post(api, json={"username": "jdoe"})
        token = {"X-Passback-Flow": started.json()["flow_token"]}
        chosen = await client.post(f"{api}/method", headers=token, json={"method": "mobile_sms"})
        assert chosen.json()["step"] == "number", chosen.text
        early = await client.post(f"{api}/code", headers=token, json={"code": "12345678"})
        assert early.status_code == 409
        wrong = await client.post(
            f"{api}/number", headers=token, json={"number": "+1 425 555 0100"}
        )
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "wrong_number")
        huge = await client.post(f"{api}/number", headers=token, json={"number": "1" * 65})
        assert huge.status_code == 422
        right = await client.post(f"{api}/number", headers=token, json={"number": "+5511912345678"})
        assert right.status_code == 200 and right.json()["step"] == "code", right.text
        (text,) = await phoned(server)
        passed = await client.post(f"{api}/code", headers=token, json={"code": phone_code(text)})
        assert passed.json()["step"] == "password", passed.text


async def test_the_policy_keeps_the_phone_region_and_admin_contacts(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    tenant = server.create_tenant("Acme")
    auth = bearer(tenant.admin_token)
    await set_policy(client, tenant.admin_token, phone_region="br", admin_contacts=["it@acme.test"])
    shown = (await client.get("/api/v1/policy", headers=auth)).json()
    assert (shown["phone_region"], shown["admin_contacts"]) == ("BR", ["it@acme.test"])
    for body in ({"phone_region": "XX"}, {"admin_contacts": ["not an address"]}):
        refused = await client.patch("/api/v1/policy", headers=auth, json=body)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_policy"
    await set_policy(client, tenant.admin_token, phone_region="", admin_contacts=[])
    shown = (await client.get("/api/v1/policy", headers=auth)).json()
    assert (shown["phone_region"], shown["admin_contacts"]) == (None, [])


async def test_numbers_of_any_shape_have_a_defined_answer(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Bad input for the number: not a number (not counted), NUL, RTL marks,
    emoji, 10 KB — a clear error on the page, nothing sent, nothing stored."""
    async with portal_tenant(server, client, make_agent, mobile=MOBILE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        await start_and_choose(client, "mobile_sms")
        for typed in ("", "\x00", "+55 11 9\x001234 5678", "\u202e", "📱📱📱", "ninety one"):
            refused = await type_number(client, typed)
            assert refused.headers["location"] == f"{BASE}/number"
            page = await client.get(f"{BASE}/number")
            assert page.status_code == 422 and "for example +55 11 91234 5678" in page.text
        page = await client.get(f"{BASE}/number")
        huge = await client.post(
            f"{BASE}/number", data={"number": "9" * 10_000, "csrf": csrf(page)}
        )
        assert huge.status_code == 422
        assert await phoned(server, 0) == []
        assert rows(server, "SELECT sum(number_misses) FROM portal_flows") == [(0,)]
        # still at the number step: the right number goes through
        assert (await type_number(client, TYPED)).headers["location"] == f"{BASE}/code"


async def test_a_number_without_its_country_code_is_not_enough(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """G4: the user types the full number; the tenant's region reads only the
    directory's numbers. Not counted as a wrong number."""
    async with portal_tenant(server, client, make_agent, mobile=MOBILE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        await start_and_choose(client, "mobile_sms")
        refused = await type_number(client, MOBILE)
        assert refused.headers["location"] == f"{BASE}/number"
        assert "with the country code" in (await client.get(f"{BASE}/number")).text
        assert (await type_number(client, TYPED)).headers["location"] == f"{BASE}/code"


async def test_wrong_numbers_count_by_the_name_typed_for_known_and_unknown_alike(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """T2: wrong numbers are counted per username as typed (its forms
    ``jdoe``, ``JDOE@acme.test`` together), per address — never per account —
    so a block answers the same for an account and for a name of nobody."""
    async with portal_tenant(server, client, make_agent, mobile=MOBILE) as (tenant, _agent):
        await set_policy(client, tenant.admin_token, methods=PHONES, phone_region="BR")
        answers = []
        for names in (("jdoe", "JDOE@acme.test"), ("mary", "MARY@acme.test")):
            for name, times in zip(names, (3, 2), strict=True):
                async with httpx.AsyncClient(base_url=server.base_url) as someone:
                    await start_and_choose(someone, "mobile_sms", name)
                    for last in range(times):
                        await type_number(someone, f"+55 11 91234 000{last}")
                    page = await someone.get(f"{BASE}/number")
                    answers.append(page.status_code)
        assert answers == [422, 429, 422, 429]


async def test_a_text_and_a_call_to_one_phone_are_one_gate(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory, mail: MailCatcher
) -> None:
    """Two gates mean two things the user has: after a text to the mobile, a
    call to the same mobile is not offered as the second (G6 says what is missing)."""
    async with portal_tenant(server, client, make_agent, mail=None, mobile=MOBILE) as (
        tenant,
        _agent,
    ):
        await set_policy(
            client,
            tenant.admin_token,
            methods=["email", "mobile_sms", "mobile_voice"],
            gates_required=2,
            phone_region="BR",
        )
        await start_and_choose(client, "mobile_sms")
        await type_number(client, TYPED)
        (text,) = await phoned(server)
        passed = await enter_code(client, phone_code(text))
        assert passed.headers["location"] == f"{BASE}/method"
        shown = await client.get(f"{BASE}/method")
        assert shown.status_code == 409 and "requires 2 ways" in shown.text


async def test_a_user_without_email_keeps_the_phone_code_cap(
    server: RunningServer, client: httpx.AsyncClient, make_agent: AgentFactory
) -> None:
    """T1: the per-user cap of phone codes holds for a user who has no email."""
    async with portal_tenant(server, client, make_agent, mail=None, mobile=MOBILE) as (t, _a):
        await set_policy(client, t.admin_token, methods=PHONES, phone_region="BR")
        for _ in range(MAX_MAILS_PER_USER_PER_CLIENT + 1):
            client.cookies.clear()
            await start_and_choose(client, "mobile_sms")
            await type_number(client, TYPED)
        await asyncio.sleep(0.5)  # a text goes out after the answer
        assert len(await phoned(server, MAX_MAILS_PER_USER_PER_CLIENT)) == (
            MAX_MAILS_PER_USER_PER_CLIENT
        )
