"""The WSGI application gunicorn serves (`gunicorn tracker.wsgi`)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

application = get_wsgi_application()

# Startup leaves long-lived objects (modules, classes, settings) that the garbage collector
# would otherwise scan again on every collection.
gc.freeze()
