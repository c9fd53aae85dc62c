"""A receiver for the reminder service's webhooks, verified with the `standardwebhooks`
package (pip install standardwebhooks). Standard library HTTP server, for illustration:

    WEBHOOK_SECRET=whsec_... python docs/webhook_receiver.py 8080

It answers 204 to a message whose signature, id and timestamp (at most 5 minutes old)
check out, and 400 to anything else. A message can arrive more than once (a retry after
an answer that got lost): `webhook-id` is the same each time, so handle each id once.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HOOK = Webhook(os.environ["WEBHOOK_SECRET"])
SEEN: set[str] = set()  # use your database in earnest: ids handled already


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = HOOK.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        message_id = self.headers["webhook-id"]
        if message_id not in SEEN:
            SEEN.add(message_id)
            print(event["type"], json.dumps(event["data"]), flush=True)  # noqa: T201
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
