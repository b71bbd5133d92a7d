"""Running import jobs: one chunk per transaction, a runner per job, a dispatcher with a watchdog, the requests."""
