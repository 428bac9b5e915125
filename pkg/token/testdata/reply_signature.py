#!/usr/bin/env python3
"""Writes reply-signature-vectors.json: reply signatures of hmac mode computed
with Python's hmac module, independently of the Go code that checks them.

signature = hex(HMAC-SHA256(secret, field(domain) + field(call id) +
    field(correlation id) + field(body) + field(error code) +
    field(error message)))
field(b) = len(b) as 8 bytes big endian, then b (UTF-8 for text).
"""
import base64
import hashlib
import hmac
import json
import struct

DOMAIN = b"servicebus/hmac-sha256/reply/v1"


def field(b):
    return struct.pack(">Q", len(b)) + b


def sign(secret, call_id, correlation_id, body, code, message):
    data = field(DOMAIN)
    for f in (call_id.encode(), correlation_id.encode(), body, code.encode(), message.encode()):
        data += field(f)
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


CASES = [
    ("s3cret", "0123abcd-1", "0123abcd-1",
     b'<?xml version="1.0" encoding="UTF-8"?><response><id>0123abcd-1</id><message>3</message></response>', "", ""),
    ("s3cret", "0123abcd-2", "0123abcd-2",
     b'<?xml version="1.0" encoding="UTF-8"?><response><id>0123abcd-2</id><message>Cannot Find RPC Service: math.nope</message></response>',
     "unknown_service", "Cannot Find RPC Service: math.nope"),
    ("sécret ünïcode", "id-é", "corr-é", "résultat ✓".encode(), "service_error", "échec …"),
    ("s3cret", "", "", b"", "", ""),
]

vectors = []
for secret, call_id, corr, body, code, msg in CASES:
    vectors.append({
        "secret": secret, "call_id": call_id, "correlation_id": corr,
        "body_base64": base64.b64encode(body).decode(),
        "error_code": code, "error_message": msg,
        "signature": sign(secret, call_id, corr, body, code, msg),
    })
with open("reply-signature-vectors.json", "w", encoding="utf-8") as f:
    json.dump({"domain": DOMAIN.decode(), "vectors": vectors}, f, indent=1, ensure_ascii=False)
    f.write("\n")
