#!/usr/bin/env python3
"""One wrk measurement of one server, with where the CPU went.

    measure.py --label edge --url URL --pids PID[,PID] [--threads 1]
               [--connections 64] [--seconds 10] [--threads-of PID]

Runs wrk (keep-alive, bench/edge/summary.lua for exact totals) and, over the
same interval, counts the CPU time (user and system) of the server's process
trees (every PID and its descendants), of wrk itself, and of the whole
machine (/proc/stat), so that what other work on this shared machine took is
visible; with --threads-of, of each thread of that process. Half-way through
it takes a `top` snapshot of the busiest processes. Prints one JSON object
(and a progress line on stderr).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TCK = os.sysconf("SC_CLK_TCK")


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return {"user": v[0] + v[1], "system": v[2], "idle": v[3] + v[4], "irq": v[5], "softirq": v[6], "steal": v[7]}


def tree(roots):
    """The roots and all their descendants, now."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            pass
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_ticks(pids):
    """Summed utime and stime (all threads) of these processes."""
    u = s = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            u += int(fields[11])
            s += int(fields[12])
        except (OSError, ValueError):
            pass
    return u, s


def thread_ticks(pid):
    """{tid: (name, utime + stime)} of the process's threads."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            out[int(t)] = (st[st.index("(") + 1:st.rindex(")")], int(fields[11]) + int(fields[12]))
        except (OSError, ValueError):
            pass
    return out


def top_snapshot(lines=8):
    """The busiest processes: the second frame of `top -b -n2 -d1` (the first one is since boot)."""
    cmd = ["top", "-b", "-n", "2", "-d", "1", "-w", "160"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    frames = out.split("top - ")
    last = frames[-1].splitlines() if frames else []
    rows, summary = [], ""
    in_table = False
    for ln in last:
        if ln.startswith("%Cpu"):
            summary = " ".join(ln.split())
        if ln.strip().startswith("PID"):
            in_table = True
            continue
        if in_table and ln.strip():
            f = ln.split(None, 11)
            if len(f) >= 12:
                rows.append({"pid": int(f[0]), "user": f[1], "cpu_pct": float(f[8].replace(",", ".")), "command": f[11].strip()})
    rows.sort(key=lambda r: -r["cpu_pct"])
    return {"cpu": summary, "rows": rows[:lines]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads-of", type=int, default=0, help="also the CPU of each thread of this process")
    ap.add_argument("--no-top", action="store_true")
    a = ap.parse_args()

    roots = [int(p) for p in a.pids.split(",") if p]
    cmd = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.seconds}s", "--latency",
           "-s", os.path.join(HERE, "summary.lua"), a.url]
    with tempfile.TemporaryFile(mode="w+") as out:
        pids0 = tree(roots)
        th0 = thread_ticks(a.threads_of) if a.threads_of else {}
        m0, s0, t0 = machine_ticks(), proc_ticks(pids0), time.monotonic()
        wrk = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        snap = {}
        if not a.no_top:
            time.sleep(max(0.5, a.seconds / 2 - 1))
            snap = top_snapshot()
        # wrk's own CPU from its rusage; bounded: wrk stops by itself at -d.
        deadline = time.monotonic() + a.seconds + 30
        status, ru = 0, None
        while time.monotonic() < deadline:
            pid, status, ru = os.wait4(wrk.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            wrk.kill()
            _, status, ru = os.wait4(wrk.pid, 0)
        wrk.returncode = os.waitstatus_to_exitcode(status)
        m1, s1, t1 = machine_ticks(), proc_ticks(tree(roots) or pids0), time.monotonic()
        th1 = thread_ticks(a.threads_of) if a.threads_of else {}
        out.seek(0)
        text = out.read()

    res = None
    for ln in text.splitlines():
        if ln.startswith("WRK-JSON "):
            res = json.loads(ln[len("WRK-JSON "):])
    if res is None:
        print(f"   {a.label}: wrk gave no summary: {text[-500:]}", file=sys.stderr)
        print(json.dumps({"label": a.label, "rps": None, "error": "wrk gave no summary", "wrk_output": text[-2000:]}))
        return 1
    secs = res["duration_us"] / 1e6
    dm = {k: m1[k] - m0[k] for k in m0}
    busy = sum(v for k, v in dm.items() if k != "idle")
    total = sum(dm.values()) or 1
    srv_u, srv_s = (s1[0] - s0[0]) / TCK, (s1[1] - s0[1]) / TCK
    wrk_cpu = (ru.ru_utime + ru.ru_stime) if ru else None
    wall = t1 - t0
    n = res["requests"] or 1
    errors = sum(res["errors"].values())
    lat = res["latency_us"]
    print(f"   {a.label:8s} {res['requests'] / secs if secs > 0 else 0:>9.0f} req/s  p50 {lat['p50'] / 1000:.2f} ms  "
          f"p99 {lat['p99'] / 1000:.2f} ms  server {(srv_u + srv_s) / n * 1e6:.1f} us/req "
          f"({(srv_u + srv_s) / wall:.2f} cores)  errors {errors}", file=sys.stderr)
    print(json.dumps({
        "label": a.label,
        "rps": round(res["requests"] / secs, 1) if secs > 0 else 0,
        "requests": res["requests"],
        "errors": res["errors"],
        "ok": errors == 0,
        "mb_per_s": round(res["bytes"] / secs / 1e6, 1) if secs > 0 else 0,
        "latency_ms": {k: round(v / 1000, 3) for k, v in res["latency_us"].items()},
        "server_cpu_s": {"user": round(srv_u, 2), "system": round(srv_s, 2)},
        "server_cpu_us_per_request": round((srv_u + srv_s) / n * 1e6, 2),
        "server_cores_used": round((srv_u + srv_s) / wall, 2),
        "wrk_cpu_s": round(wrk_cpu, 2) if wrk_cpu is not None else None,
        "wrk_cpu_us_per_request": round(wrk_cpu / n * 1e6, 2) if wrk_cpu is not None else None,
        # Of all cores over the run: how busy the machine was, and how much of
        # it was neither the server nor wrk (the other work on this machine).
        "machine_pct": {k: round(100 * v / total, 1) for k, v in dm.items()},
        "others_cores_used": round(max(0.0, busy / TCK - (srv_u + srv_s) - (wrk_cpu or 0)) / wall, 2),
        "top": snap,
        # Cores used by each thread of --threads-of over the run.
        **({"threads": [{"tid": t, "name": n, "cores": round((v - th0.get(t, (n, 0))[1]) / TCK / wall, 3)}
                        for t, (n, v) in sorted(th1.items())]} if a.threads_of else {}),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
