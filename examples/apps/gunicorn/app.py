# The app of the gunicorn recipe (docs/app-servers.md). It answers "release <id> pid <pid>": <id> is the
# `version` file beside this module, read once, when the worker imports it. /slow takes 0.25 s.
import os
import time

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'version')) as f:
    RELEASE = f.read().strip()


def application(environ, start_response):
    if environ.get('PATH_INFO') == '/slow':
        time.sleep(0.25)
    body = f'release {RELEASE} pid {os.getpid()}\n'.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
