"""The demo is not a runtime dependency: the server, the agent and the
``passback`` command load neither :mod:`passback.demo` nor its extra, and
``passback demo`` without the extra says how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.samba import TIMEOUT_FACTOR

#: Python code: the modules of the demo and of its extra that are loaded.
LOADED = (
    "sorted(m for m in sys.modules if m.partition('.')[0] == 'aiosmtpd' "
    "or m == 'passback.demo' or m.startswith('passback.demo.'))"
)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter, where nothing is imported yet."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60 * TIMEOUT_FACTOR,
        check=False,
    )


def test_server_and_agent_do_not_import_the_demo() -> None:
    done = _python(
        f"""
        import sys

        import passback.agent.service
        import passback.cli
        import passback.cli.agent
        import passback.cli.server
        import passback.server.app

        print({LOADED})
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_demo_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = _python(
        """
        import sys

        sys.modules["aiosmtpd"] = None  # as if the demo extra were not installed
        from passback.cli import main

        main(["demo", "--dir", sys.argv[1]])
        """,
        str(folder),
    )
    assert done.returncode == 1, done.stderr
    assert "Error: the demo needs Passback's 'demo' extra: pip install 'passback[demo]'" in (
        done.stderr
    )
    assert not folder.exists()  # it stopped before making anything
