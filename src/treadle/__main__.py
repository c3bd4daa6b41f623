"""``python -m treadle``: the CLI (how the scheduler starts queued pipeline runs in child processes)."""

from treadle.cli._app import main

main()
