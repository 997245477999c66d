"""Runs the moto server, handling one request at a time: python moto_serial.py HOST PORT.

moto applies a DynamoDB transaction by deep-copying the table and putting the copy back when
a condition fails. With requests on several threads (moto_server's default), putting it back
can undo writes that other requests made meanwhile, which real DynamoDB, whose transactions
are serialisable, never does; the tests that race twenty writers on one report then see
counts that DynamoDB would never produce. Serving one request at a time gives the tests
DynamoDB's isolation. moto is CPU-bound Python under one lock anyway, so little is lost.
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False)
