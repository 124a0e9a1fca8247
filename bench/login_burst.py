#!/usr/bin/env python3
"""A legitimate login's latency during a burst of failed logins (issue 10).

Against a running todo-server started with APP__SERVER__TRUST_FORWARDED_FOR=true
(so each attacker can claim its own address and the per-client limit does not
stop the burst before the hasher sees it):

  1. registers one legitimate user;
  2. calm: N sequential logins of that user, latency of each;
  3. burst: ATTACKERS threads send failed logins non-stop, each from its own
     address and for fresh emails (the worst case for the hasher: every
     attempt passes the limiter and needs a hash), while the legitimate user
     logs in N more times;
  4. prints JSON: calm and burst p50/p99, their ratio (target <= 3), how many
     legitimate logins got 503 (hasher busy, Retry-After) and the attackers'
     status counts.

  bench/login_burst.py --base http://127.0.0.1:8080 [--attackers 250] [--logins 60]
                       [--attacker-clients N]

--attacker-clients N spreads the attackers over N addresses instead of one
each: 1 is the burst first reported in issue 10 (250 parallel failed logins
from one client), which the per-client limit answers with 429 before hashing.

Standard library only.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
import uuid


def call(conn, body, client):
    headers = {"Content-Type": "application/json", "X-Forwarded-For": client}
    conn.request("POST", "/api/v1/auth/login", body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def connect(base):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def percentile(values, p):
    values = sorted(values)
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[index]


def legit_logins(base, email, password, n):
    conn = connect(base)
    took, statuses = [], {}
    for _ in range(n):
        started = time.perf_counter()
        status = call(conn, {"email": email, "password": password}, "192.0.2.1")
        took.append((time.perf_counter() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        time.sleep(0.05)
    return took, statuses


def attacker(base, index, stop, counts, lock, clients):
    conn = connect(base)
    slot = index % clients if clients else index
    client = "10.%d.%d.%d" % (slot // 65536 % 256, slot // 256 % 256, slot % 256)
    while not stop.is_set():
        try:
            status = call(
                conn,
                {"email": "nobody-%s@example.com" % uuid.uuid4().hex, "password": "wrong-password"},
                client,
            )
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = connect(base)
            status = "error"
        with lock:
            counts[status] = counts.get(status, 0) + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--attackers", type=int, default=250)
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--attacker-clients", type=int, default=0,
                        help="addresses the attackers share (0: one each)")
    args = parser.parse_args()

    email = "bench-legit-%s@example.com" % uuid.uuid4().hex
    password = "bench-password-1"
    conn = connect(args.base)
    conn.request(
        "POST",
        "/api/v1/auth/register",
        body=json.dumps({"email": email, "password": password}),
        headers={"Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 201, resp.status

    calm, calm_statuses = legit_logins(args.base, email, password, args.logins)

    stop, lock, counts = threading.Event(), threading.Lock(), {}
    threads = [
        threading.Thread(target=attacker, args=(args.base, i, stop, counts, lock, args.attacker_clients), daemon=True)
        for i in range(args.attackers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # let the burst build up
    burst, burst_statuses = legit_logins(args.base, email, password, args.logins)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    calm_p99, burst_p99 = percentile(calm, 99), percentile(burst, 99)
    print(
        json.dumps(
            {
                "calm_ms": {"p50": statistics.median(calm), "p99": calm_p99},
                "burst_ms": {"p50": statistics.median(burst), "p99": burst_p99},
                "p99_ratio": burst_p99 / calm_p99,
                "legit_statuses_calm": calm_statuses,
                "legit_statuses_burst": burst_statuses,
                "attacker_statuses": {str(k): v for k, v in counts.items()},
                "attackers": args.attackers,
                "attacker_clients": args.attacker_clients or args.attackers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
