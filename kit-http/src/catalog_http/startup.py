"""What an HTTP service does once its app is built, before it serves."""

import gc


def freeze_startup_objects() -> None:
    """Keep what startup built out of the garbage collector's full passes.

    Modules, the app, its routes and models live as long as the process (~135,000-150,000 objects in each API).
    A full collection walks every object it tracks and holds every request meanwhile (60-150 ms measured here);
    frozen, they are walked no more, so these pauses no longer set the tail latency of requests.
    """
    gc.collect()
    gc.freeze()
