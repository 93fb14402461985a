"""One adapter module per system: ``gdw`` and its peers. See ``base.py`` for the interface."""

#: every system the harness knows, gdw first
SYSTEMS = ["gdw", "arq", "saq", "rq", "huey", "taskiq", "dramatiq", "celery", "streaq"]
