"""``python -m passback.cli`` is the ``passback`` command, as ``python -m passback`` is."""

from passback.cli import main

main()
