#!/usr/bin/env python3
"""Writes the Python datagrams the udplog tests decode.

Run from this directory: python3 gen_pickles.py
Each .bin file is one datagram as logging.handlers.DatagramHandler sends it:
a 4-byte big-endian length, then a pickle.
"""
import logging
import logging.handlers
import os
import pickle
import struct


def record(msg="hello from python", level=logging.WARNING, exc=False):
    r = logging.LogRecord("app.worker", level, "/srv/app/worker.py", 42, msg, None, None, "run")
    r.created = 1764201600.25  # 2025-11-27 00:00:00.25 UTC
    r.process = 4242
    r.request_id = "abc-123"  # an extra= field
    r.attempt = 3
    if exc:
        r.exc_text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom"
    return r


def frame(payload):
    return struct.pack(">L", len(payload)) + payload


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def main():
    h = logging.handlers.DatagramHandler("127.0.0.1", 9)
    # exactly what DatagramHandler sends (protocol 1)
    open("logging_handler.bin", "wb").write(h.makePickle(record()))
    open("logging_exc.bin", "wb").write(h.makePickle(record(msg="failed\nsecond line", level=logging.ERROR, exc=True)))
    h.close()
    d = dict(record().__dict__)
    d["msg"] = "hello from python"
    d["args"] = None
    d["exc_info"] = None
    d["nested"] = {"list": [1, 2.5, None, True], "tuple": (1, "x"), "big": 2**70, "neg": -(2**40)}
    for proto in (1, 2, 3, 4):
        if proto >= 3:  # protocols 1 and 2 pickle bytes through _codecs.encode (a GLOBAL)
            d["nested"]["bytes"] = b"\x00\xff"
        open("record_p%d.bin" % proto, "wb").write(frame(pickle.dumps(d, proto)))
    # hostile: os.system through REDUCE (GLOBAL in protocol 1, STACK_GLOBAL in 4)
    bad = {"levelname": "INFO", "msg": Evil()}
    open("hostile_reduce_p1.bin", "wb").write(frame(pickle.dumps(bad, 1)))
    open("hostile_reduce_p4.bin", "wb").write(frame(pickle.dumps(bad, 4)))
    # hostile: a whole LogRecord object (class lookup + BUILD)
    open("hostile_object.bin", "wb").write(frame(pickle.dumps(record(), 2)))


if __name__ == "__main__":
    main()
