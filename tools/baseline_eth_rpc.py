#!/usr/bin/env python3
"""Baseline for ashiato-eth-bench: fetch Ethereum blocks over JSON-RPC, plainly.

Usage: baseline_eth_rpc.py URL FIRST LAST

For every block FIRST..LAST (inclusive), sequentially, one request at a time, with
urllib and json from the standard library only, it makes the calls Ashiato's sync
makes for a block:

  1. eth_getBlockByNumber(block, true)           the block with full transactions
  2. eth_getBlockReceipts(block)                 the receipts (skipped for a block
                                                 without transactions, as Ashiato does)
  3. debug_traceBlockByNumber(block, {"tracer": "callTracer"})   the call traces

and counts ERC-20/721 Transfer logs (topic0 = keccak("Transfer(address,address,uint256)"))
in the receipts of successful transactions. It checks nothing else and stores nothing.
Prints one JSON line: {"blocks": .., "txs": .., "logs": .., "seconds": ..}.
"""

import json
import sys
import time
import urllib.request

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


class Rpc:
    def __init__(self, url):
        self.url = url
        self.next_id = 0

    def call(self, method, params):
        self.next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        ).encode()
        req = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())
        if answer.get("error") is not None:
            raise RuntimeError(f"{method} {params}: {answer['error']}")
        return answer.get("result")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: baseline_eth_rpc.py URL FIRST LAST")
    url, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rpc = Rpc(url)
    blocks = txs = logs = 0
    start = time.perf_counter()
    for n in range(first, last + 1):
        tag = hex(n)
        block = rpc.call("eth_getBlockByNumber", [tag, True])
        if block is None:
            sys.exit(f"no block {n}")
        receipts = []
        if block["transactions"]:
            receipts = rpc.call("eth_getBlockReceipts", [tag])
        traces = rpc.call("debug_traceBlockByNumber", [tag, {"tracer": "callTracer"}])
        if len(receipts) != len(block["transactions"]) or len(traces) != len(
            block["transactions"]
        ):
            sys.exit(f"block {n}: transactions, receipts and traces differ in number")
        for r in receipts:
            if r.get("status") == "0x0":
                continue
            for log in r["logs"]:
                topics = log["topics"]
                if topics and topics[0].lower() == TRANSFER_TOPIC:
                    logs += 1
        blocks += 1
        txs += len(block["transactions"])
    seconds = time.perf_counter() - start
    print(json.dumps({"blocks": blocks, "txs": txs, "logs": logs, "seconds": seconds}))


if __name__ == "__main__":
    main()
