"""``python -m emostyle``: the same as the ``emostyle`` command."""

from emostyle.cli import main

main()
