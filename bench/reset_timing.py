#!/usr/bin/env python3
"""Password-reset requests for a known and an unknown email: the same answer,
and how close their latencies are (issue 13: "same answer and timing").

Against a running todo-server (its mail may be disabled: mail is sent after
the answer, by the outbox sender):

  1. registers one user;
  2. sends N pairs of reset requests, one for that user, one for a fresh
     unknown email, alternating, and checks each is 202 with the same body;
  3. prints JSON: p50 and p90 of each, and their ratio.

  bench/reset_timing.py --base http://127.0.0.1:8080 [--pairs 300]

With the default mail.max_outstanding_tokens (3) the known email's requests
past the third queue nothing; start the server with
APP__MAIL__MAX_OUTSTANDING_TOKENS=1000 to make every known request insert a
token, an outbox row and an event (the most work it can differ by).

Standard library only. The user stays in the database: delete it afterwards
(its email starts with `reset-timing-`).
"""

import argparse
import http.client
import json
import secrets
import statistics
import time
import urllib.parse


def post(conn, path, body):
    started = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    return answer.status, data, (time.perf_counter() - started) * 1000


def quantiles(xs):
    xs = sorted(xs)
    return {"p50_ms": round(statistics.median(xs), 2), "p90_ms": round(xs[int(len(xs) * 0.9)], 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.base)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    email = f"reset-timing-{secrets.token_hex(6)}@example.com"
    status, _, _ = post(conn, "/api/v1/auth/register", {"email": email, "password": secrets.token_hex(16)})
    assert status == 201, status
    known, unknown = [], []
    for _ in range(args.pairs):
        s1, b1, t1 = post(conn, "/api/v1/auth/password-reset", {"email": email})
        nobody = f"nobody-{secrets.token_hex(6)}@example.com"
        s2, b2, t2 = post(conn, "/api/v1/auth/password-reset", {"email": nobody})
        assert (s1, b1) == (s2, b2) and s1 == 202, (s1, b1, s2, b2)
        known.append(t1)
        unknown.append(t2)
    k, u = quantiles(known), quantiles(unknown)
    print(json.dumps({"pairs": args.pairs, "known": k, "unknown": u,
                      "p50_ratio": round(k["p50_ms"] / u["p50_ms"], 3)}))


if __name__ == "__main__":
    main()
