"""How gunicorn.conf.py sets up each worker."""

import gc
import runpy
from pathlib import Path

from django.conf import settings


def test_a_worker_freezes_what_it_loaded_out_of_full_collections():
    config = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    gc.unfreeze()
    try:
        config["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
