"""How gunicorn serves the project: what gunicorn.conf.py sets up in each worker, and the
parser it reads requests with."""

import gc
import runpy
from pathlib import Path

from django.conf import settings
from gunicorn.config import Config
from gunicorn.http import message

CONF = Path(settings.BASE_DIR) / "gunicorn.conf.py"


def test_a_worker_freezes_what_it_loaded_out_of_full_collections():
    config = runpy.run_path(str(CONF))
    gc.unfreeze()
    try:
        config["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_gunicorn_reads_requests_with_its_c_parser():
    served = Config()
    for name, value in runpy.run_path(str(CONF)).items():
        if name in served.settings:
            served.set(name, value)
    # gunicorn's own choice, per request, between gunicorn_h1c and its Python parser. A private
    # function: should gunicorn rename it, this fails rather than the parser going unnoticed.
    assert message._check_fast_parser(served)
