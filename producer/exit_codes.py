"""The producer's exit codes, named once (the CLI maps library outcomes onto these)."""

from __future__ import annotations

EXIT_OK = 0
#: Some messages were not accepted by SQS after every retry; they are listed, never dropped.
EXIT_SEND_FAILED = 1
#: A usage or configuration error: nothing was sent.
EXIT_CONFIG = 2
#: A SendMessageBatch call failed outright (after botocore's retries); the run stopped early.
EXIT_ABORTED = 3
#: Interrupted (Ctrl-C); the ledger holds everything accepted up to that point.
EXIT_INTERRUPTED = 130
