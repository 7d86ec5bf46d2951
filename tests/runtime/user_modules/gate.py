"""Lets a test decide when the import of user_modules.slow finishes."""

import threading

import_started = threading.Event()
release_import = threading.Event()
