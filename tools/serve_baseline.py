#!/usr/bin/env python3
"""Independent baseline for `ashiato-serve-bench`: the screening lookup in plain Python.

A standard-library `ThreadingHTTPServer` (HTTP/1.1 keep-alive, one thread per
connection) holding every tainted address of the benchmark's SYNTHETIC incident in a
dict, answering `GET /api/v1/screen/{chain}/{address}` with the JSON shape of
docs/serve.md (`ScreenResult`): the answer is built and serialised per request, as the
Rust service does. `GET /api/v1/health` answers a small fixed document.

Input (written by the benchmark from its index), tab-separated, one record a line:

    H  address  JSON array of the address's hits
    L  address  JSON array of the address's labels

The hits and labels are data; the answer around them (`chain`, `address`, `tainted` = any
hit with a taint other than "0", `labels`, `hits`) is built here for every request.

Usage: serve_baseline.py DATA [--port 0]. Prints `listening PORT` (and the counts) on
stdout once loaded, then serves until killed. No third-party packages.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

PREFIX = "/api/v1/screen/"
CHAINS = {"generic": "generic", "csv": "generic"}

HITS = {}
LABELS = {}


def load(path):
    n_hits = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            kind, addr, data = line.rstrip("\n").split("\t", 2)
            if kind == "H":
                hits = json.loads(data)
                HITS[addr] = hits
                n_hits += len(hits)
            elif kind == "L":
                LABELS[addr] = json.loads(data)
    return n_hits


def error(status, code, message):
    return status, {"error": {"status": status, "code": code, "message": message}}


def valid_generic(a):
    # The generic chain's rule (crates/model/src/address.rs): a plain token, trimmed.
    if not a:
        return "empty address"
    if len(a) > 128:
        return "longer than 128 bytes"
    if any(c.isspace() or ord(c) < 32 or c in ',"' for c in a):
        return "contains whitespace, a comma, a quote or a control character"
    return None


def screen(chain_s, raw):
    chain = CHAINS.get(chain_s)
    if chain is None:
        return error(400, "bad_chain", f"unknown chain {chain_s!r}")
    addr = unquote(raw).strip()
    if len(addr) > 200:
        return error(400, "bad_address", f"not a {chain} address: {len(addr)} characters long")
    why = valid_generic(addr)
    if why:
        return error(400, "bad_address", f"not a {chain} address: {why}")
    hits = HITS.get(addr, [])
    return 200, {
        "chain": chain,
        "address": addr,
        "tainted": any(h.get("taint") != "0" for h in hits),
        "labels": LABELS.get(addr, []),
        "hits": hits,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each answer would wait
    # for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith(PREFIX):
            rest = path[len(PREFIX):]
            chain, sep, addr = rest.partition("/")
            if not sep or "/" in addr:
                status, body = error(404, "not_found", "no such API endpoint")
            else:
                status, body = screen(chain, addr)
        elif path == "/api/v1/health":
            status, body = 200, {
                "status": "ok",
                "tainted_addresses": len(HITS),
                "baseline": "python",
            }
        else:
            status, body = error(404, "not_found", "no such API endpoint")
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # wrk resets its connections when a run ends: not an error of the baseline.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    n = load(a.data)
    srv = Server(("127.0.0.1", a.port), Handler)
    print(f"listening {srv.server_address[1]} addresses {len(HITS)} hits {n}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
