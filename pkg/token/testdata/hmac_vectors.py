#!/usr/bin/env python3
"""Writes hmac-sha256-v1-vectors.json: HMAC scheme signatures computed with
Python's hmac and hashlib alone, independent of the Go signer.

Input of the MAC: each field as an 8-byte big-endian length and its UTF-8
bytes, in order: the domain "servicebus/hmac-sha256/v1", event id, category,
service, params (as the decoder returns them: trimmed, empty as null), the
timestamp in Unix milliseconds as decimal text. Key: the secret's UTF-8 bytes.
Run: python3 hmac_vectors.py > hmac-sha256-v1-vectors.json
"""
import hashlib
import hmac
import json
import struct

DOMAIN = "servicebus/hmac-sha256/v1"

CASES = [
    ("secret token", "1", "math", "add", "[1, 2]", 1700000000000),
    ("secret token", "c0ffee-42", "util", "echo", '{"text": "h\u00e9llo \u4e16\u754c"}', 1764424800123),
    ("another secret \u00e9", "", "x", "y", "null", 0),
    ("k", "id-with-<xml>&amp;", "cat.egory", "ser_vice", '"' + "a" * 300 + '"', 253402300799999),
]


def field(b):
    return struct.pack(">Q", len(b)) + b


def sign(secret, ev_id, category, service, params, ts):
    msg = b"".join(field(s.encode("utf-8")) for s in (DOMAIN, ev_id, category, service, params, str(ts)))
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()


print(json.dumps([
    {"secret": s, "id": i, "category": c, "service": v, "params": p, "ts": ts, "sig": sign(s, i, c, v, p, ts)}
    for (s, i, c, v, p, ts) in CASES
], indent=1, ensure_ascii=False))
