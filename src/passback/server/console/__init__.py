"""The admin console of a tenant (SPEC U1, G7, E1, E2, E5, W3): administrators
with a password and an authenticator app, their roles, and the pages where a
helpdesk resets, unlocks and reads reports.

::

    roles.py      who may do what (tenant administrator, helpdesk, reports reader)
    admins.py     administrators in the store: set-up links, passwords, codes
    sessions.py   the states of a console session, as pure moves over its row
    errors.py     ConsoleError: what an administrator is shown, and its status
    service.py    the use-cases: set up, sign in (two gates), the session's admin
    people.py     search the synced users, and an administrator's writes on one
    reports.py    the audit log filtered, as rows, CSV and an SVG chart
    pages.py      the HTML routes under /console/{slug}/
"""
