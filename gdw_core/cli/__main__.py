"""``python -m gdw_core.cli``: the same as ``gdw``."""

from gdw_core.cli.app import main

main()
