#!/usr/bin/env python3
"""HTTP helpers for bench/run.sh, standard library only.

  seed     register users, log them in, create their tasks (in parallel);
           writes users.tsv (email, password), tokens.tsv (token, user id)
           and tasks.tsv (token, task id) for the wrk scripts
  latency  one client at a time: median latency per endpoint, as JSON
  startup  start todo-server, time process start -> first 200 on /readyz,
           leave it running; prints JSON {pid, ready_ms}
"""

import argparse
import concurrent.futures as futures
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

PASSWORD = "bench-password-1"


class Client:
    """One keep-alive HTTP connection (one per thread)."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.conn = None

    def call(self, method, path, body=None, token=None):
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        if token:
            headers["Authorization"] = "Bearer " + token
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, (json.loads(data) if data else None), resp
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


_local = threading.local()


def client(base):
    if getattr(_local, "client", None) is None:
        _local.client = Client(base)
    return _local.client


def expect(status, wanted, what, body):
    if status != wanted:
        raise SystemExit(f"{what}: HTTP {status} (wanted {wanted}): {body}")


def register_and_login(base, email):
    c = client(base)
    status, body, _ = c.call("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    expect(status, 201, "register", body)
    status, body, _ = c.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    expect(status, 200, "login", body)
    return body["access_token"], body["user"]["id"]


def create_task(base, token, n):
    status, body, _ = client(base).call("POST", "/api/v1/tasks", {"title": f"seeded task {n}"}, token)
    expect(status, 201, "create task", body)
    return body["id"]


def seed(args):
    started = time.perf_counter()
    emails = [f"bench-{args.prefix}-{i}@bench.example" for i in range(args.users)]
    # Registration and login are Argon2-bound: a few threads are enough.
    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        accounts = list(pool.map(lambda e: register_and_login(args.base, e), emails))
    jobs = [(token, n) for token, _ in accounts for n in range(args.tasks)]
    with futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        ids = list(pool.map(lambda job: create_task(args.base, *job), jobs))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "users.tsv"), "w") as f:
        f.writelines(f"{e}\t{PASSWORD}\n" for e in emails)
    with open(os.path.join(args.out, "tokens.tsv"), "w") as f:
        f.writelines(f"{t}\t{u}\n" for t, u in accounts)
    with open(os.path.join(args.out, "tasks.tsv"), "w") as f:
        f.writelines(f"{token}\t{task}\n" for (token, _), task in zip(jobs, ids))
    print(json.dumps({"users": len(accounts), "tasks": len(ids), "seconds": round(time.perf_counter() - started, 1)}))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000.0, out


def proxy_stats(control):
    if not control:
        return None
    with urllib.request.urlopen(control + "/stats", timeout=5) as resp:
        return json.loads(resp.read())


def latency(args):
    """Per endpoint: median ms, one request at a time on one connection, and
    (with --control) the client->database flights the proxy saw per request."""
    c = Client(args.base)
    n, warm = args.samples, 3
    result = {}

    def measure(name, calls):
        """calls: n + warm zero-argument functions, each returning (status, body)."""
        times, before = [], None
        for i, call in enumerate(calls):
            if i == warm:
                before = proxy_stats(args.control)
            ms, out = timed(call)
            if i >= warm:
                times.append(ms)
        after = proxy_stats(args.control)
        result[name] = {"median_ms": round(statistics.median(times), 3)}
        if before and after:
            result[name]["flights"] = round((after["up_flights"] - before["up_flights"]) / len(times), 2)
            result[name]["connections"] = after["total"] - before["total"]

    def ok(wanted, what, f):
        def call():
            status, body, _ = f()
            expect(status, wanted, what, body)
            return body
        return call

    emails = [f"lat-{uuid.uuid4()}@bench.example" for _ in range(n + warm)]
    measure("register", [ok(201, "register", lambda e=e: c.call("POST", "/api/v1/auth/register", {"email": e, "password": PASSWORD})) for e in emails])
    tokens = []
    login = ok(200, "login", lambda: c.call("POST", "/api/v1/auth/login", {"email": emails[0], "password": PASSWORD}))
    measure("login", [lambda: tokens.append(login()["access_token"]) for _ in range(n + warm)])
    token = tokens[-1]
    ids = []
    measure("create", [lambda i=i: ids.append(ok(201, "create", lambda: c.call("POST", "/api/v1/tasks", {"title": f"latency {i}"}, token))()["id"]) for i in range(n + warm)])
    measure("list", [ok(200, "list", lambda: c.call("GET", "/api/v1/tasks?limit=20", None, token)) for _ in range(n + warm)])
    measure("get", [ok(200, "get", lambda t=t: c.call("GET", f"/api/v1/tasks/{t}", None, token)) for t in ids])
    measure("update", [ok(200, "update", lambda i=i, t=t: c.call("PATCH", f"/api/v1/tasks/{t}", {"completed": i % 2 == 0}, token)) for i, t in enumerate(ids)])
    measure("delete", [ok(204, "delete", lambda t=t: c.call("DELETE", f"/api/v1/tasks/{t}", None, token)) for t in ids])
    # References: /readyz asks the database one trivial query, /healthz asks it nothing.
    measure("readyz", [ok(200, "readyz", lambda: c.call("GET", "/readyz")) for _ in range(n + warm)])
    measure("healthz", [ok(200, "healthz", lambda: c.call("GET", "/healthz")) for _ in range(n + warm)])
    print(json.dumps(result))


def proc_ticks(pid, children=False):
    """utime + stime (+ reaped children's) of a process, in clock ticks; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are fields 14-17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def cpu(args):
    """CPU ticks so far: the service, PostgreSQL (postmaster, its live children
    and the ones it reaped), the harness shell's reaped children (wrk, pgbench),
    and the whole machine's busy and total time."""
    postgres = proc_ticks(args.postmaster, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if ppid == args.postmaster:
                postgres += proc_ticks(int(entry))
    with open("/proc/stat") as f:
        cpu_line = [int(x) for x in f.readline().split()[1:]]
    idle = cpu_line[3] + cpu_line[4]
    print(json.dumps({
        "t": time.time(),
        "server": proc_ticks(args.server) if args.server else 0,
        "postgres": postgres,
        "loadgen": proc_ticks(args.shell, children=True) - proc_ticks(args.shell),
        "busy": sum(cpu_line[:8]) - idle,
        "total": sum(cpu_line[:8]),
        "hz": os.sysconf("SC_CLK_TCK"),
    }))


def readyz_status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException, OSError):
        return None
    finally:
        conn.close()


def startup(args):
    before = proxy_stats(args.control)
    with open(args.log, "ab") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args.cmd, stdout=log, stderr=log, start_new_session=True)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"todo-server exited with {proc.returncode} before it was ready (see {args.log})")
        if readyz_status(args.port) == 200:
            break
        if time.perf_counter() - t0 > args.timeout:
            raise SystemExit(f"todo-server not ready after {args.timeout} s (see {args.log})")
        time.sleep(0.0005)
    ready_ms = round((time.perf_counter() - t0) * 1000.0, 1)
    out = {"pid": proc.pid, "ready_ms": ready_ms}
    after = proxy_stats(args.control)
    if before and after:
        out["flights"] = after["up_flights"] - before["up_flights"]
        out["connections"] = after["total"] - before["total"]
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--base", required=True)
    s.add_argument("--users", type=int, default=50)
    s.add_argument("--tasks", type=int, default=200)
    s.add_argument("--threads", type=int, default=16)
    s.add_argument("--prefix", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=seed)
    s = sub.add_parser("latency")
    s.add_argument("--base", required=True)
    s.add_argument("--samples", type=int, default=21)
    s.add_argument("--control", help="latency-proxy control URL, to count database flights")
    s.set_defaults(fn=latency)
    s = sub.add_parser("startup")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--control", help="latency-proxy control URL, to count database flights")
    s.add_argument("cmd", nargs="+")
    s.set_defaults(fn=startup)
    s = sub.add_parser("cpu")
    s.add_argument("--server", type=int, default=0)
    s.add_argument("--postmaster", type=int, required=True)
    s.add_argument("--shell", type=int, required=True)
    s.set_defaults(fn=cpu)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
