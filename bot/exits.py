"""Exit codes of every command (the CLI's status; the handler's return value)."""

EXIT_OK = 0  # done
EXIT_FAILED = 1  # the deploy failed, was cancelled or refused
EXIT_USAGE = 2  # bad usage or bad input
