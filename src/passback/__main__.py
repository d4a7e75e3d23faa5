"""``python -m passback`` is the ``passback`` command."""

from passback.cli import main

main()
