"""A real SMTP server for the tests (aiosmtpd), writing to a Maildir.

    python3 tests/smtp_server.py serve PORT MAILDIR   # prints "ready" when listening
    python3 tests/smtp_server.py dump MAILDIR         # prints the messages as JSON

Recipients containing "reject" get a permanent 550, ones containing
"tempfail" a temporary 451; everything else is accepted.
"""
import asyncio
import email
import email.policy
import json
import mailbox
import os
import sys


class Handler:
    def __init__(self, maildir):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "reject" in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if "tempfail" in address:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        delay = float(os.environ.get("SMTP_DELAY_MS", "0")) / 1000.0
        if delay:
            await asyncio.sleep(delay)
        self.box.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def serve(port, maildir):
    from aiosmtpd.controller import Controller

    controller = Controller(Handler(maildir), hostname="127.0.0.1", port=int(port))
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


def dump(maildir):
    out = []
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    for key, msg in mailbox.Maildir(maildir, factory=None, create=True).iteritems():
        parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
        text = parsed.get_body(preferencelist=("plain",))
        html = parsed.get_body(preferencelist=("html",))
        attachments = []
        for part in parsed.iter_attachments():
            body = part.get_payload(decode=True) or b""
            attachments.append({
                "filename": part.get_filename() or "",
                "content_type": part.get_content_type(),
                "content": body.decode("utf-8", errors="replace"),
            })
        out.append({
            "attachments": attachments,
            "to": str(parsed["To"]),
            "from": str(parsed["From"]),
            "subject": str(parsed["Subject"]),
            "message_id": str(parsed["Message-ID"]),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        })
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        dump(sys.argv[2])
