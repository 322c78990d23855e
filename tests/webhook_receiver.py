"""A webhook receiver for the tests that checks every signature with the
`standardwebhooks` package from PyPI (an implementation independent of the
server's), in its own process.

    python3 tests/webhook_receiver.py PORT DIR   # prints "ready" when listening

Each request's webhook-id is appended to DIR/arrived.log when it arrives;
when answered, the request is appended to DIR/log.jsonl as one JSON line: the headers,
the body, the answer given, and for each secret in DIR/secrets.json (a
JSON list, read on every request so a test can add one after a rotation)
whether the request verified with it.

The answer: 410 while DIR/gone exists; 500 while DIR/fail exists or for
the first FAIL_FIRST requests (environment); else 200. DELAY_MS (env)
holds each answer back that long (to keep deliveries in flight).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

DIR = sys.argv[2]
FAIL_FIRST = int(os.environ.get("FAIL_FIRST", "0"))
DELAY_MS = int(os.environ.get("DELAY_MS", "0"))
LOCK = threading.Lock()
COUNT = [0]


def secrets():
    try:
        with open(os.path.join(DIR, "secrets.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(n).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = []
        for s in secrets():
            try:
                Webhook(s).verify(body, headers)
                verified.append(True)
            except WebhookVerificationError:
                verified.append(False)
        with LOCK:
            with open(os.path.join(DIR, "arrived.log"), "a") as f:
                f.write(headers.get("webhook-id", "") + "\n")
        if DELAY_MS:
            time.sleep(DELAY_MS / 1000)
        with LOCK:
            COUNT[0] += 1
            if os.path.exists(os.path.join(DIR, "gone")):
                status = 410
            elif os.path.exists(os.path.join(DIR, "fail")) or COUNT[0] <= FAIL_FIRST:
                status = 500
            else:
                status = 200
            line = {
                "id": headers.get("webhook-id", ""),
                "timestamp": headers.get("webhook-timestamp", ""),
                "signature": headers.get("webhook-signature", ""),
                "body": body,
                "verified": verified,
                "status": status,
                "at": time.time(),
            }
            with open(os.path.join(DIR, "log.jsonl"), "a") as f:
                f.write(json.dumps(line) + "\n")
        answer = b"thanks" if status == 200 else b"not yet"
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
