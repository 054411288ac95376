"""`python -m devhost`, with the queue lease shortened so a crash test need not wait 10 minutes.

devhost, like the Functions host's queue listener, fetches messages invisible for
10 minutes and renews that lease while the function runs. After a kill -9 the
messages in flight reappear only when the lease runs out. This wrapper sets the
lease to WA_TEST_QUEUE_LEASE_SECONDS (default 15) and runs devhost unchanged
otherwise: it stands in for "ten minutes pass", nothing else.
"""

from __future__ import annotations

import os
import sys

import devhost.queues
from devhost.__main__ import main

if __name__ == "__main__":
    devhost.queues.FETCH_VISIBILITY = int(os.environ.get("WA_TEST_QUEUE_LEASE_SECONDS", "15"))
    sys.exit(main())
