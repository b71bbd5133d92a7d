"""An HTTP service's startup objects are kept out of the garbage collector's full passes."""

import gc

from catalog_http.startup import freeze_startup_objects


def test_what_startup_built_is_no_longer_walked_by_a_collection() -> None:
    kept = [{"startup": i} for i in range(1000)]  # objects the garbage collector tracks
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(kept)
        walked = {id(o) for o in gc.get_objects()}  # what a collection walks: frozen objects are not among them
        assert not walked & {id(o) for o in kept}
    finally:
        gc.unfreeze()
