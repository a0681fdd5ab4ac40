"""bench_fetch.py — images/s of a whole `ovseg fetch` crawl on loopback (nginx on 127.0.0.1, real
JPEGs, SQLite, shards) next to the floor measured in the same run: the image stage alone
(decode + resize + encode of the same files, same threads, no network, no database).

    .venv/bin/python tests/bench/bench_fetch.py [N_IMAGES] [IMAGE_SIZE]   (defaults 1500, 256)"""
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fetchlib  # noqa: E402
from harness import OVSEG, ROOT  # noqa: E402


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    cores = os.cpu_count()
    t = fetchlib.tmp("ovseg-bench-fetch-")
    try:
        imgs = os.path.join(t, "img")
        names = fetchlib.fast_images(imgs, n, 640, 480)
        files = [os.path.join(imgs, x) for x in names]
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        subprocess.run(["make", "-s", "build/tests/bench/fetch_floor"], cwd=ROOT, check=True)
        floor_bin = os.path.join(ROOT, "build/tests/bench/fetch_floor")
        floors, crawls = [], []
        ng = fetchlib.Nginx(imgs, t)
        try:
            for k in range(2):  # floor and crawl alternate, so a change of load hits both alike
                c0 = cpu_children()
                out = subprocess.run([floor_bin, str(cores), str(size), *files], capture_output=True, text=True,
                                     check=True).stdout.split()
                floors.append((int(out[2]) / float(out[4]), int(out[2]) / (cpu_children() - c0)))
                db = os.path.join(t, f"b{k}.db")
                fetchlib.make_db(db, [(ng.url(x), f"caption {i}") for i, x in enumerate(names)])
                t0, c0 = time.time(), cpu_children()
                fetchlib.fetch(db, os.path.join(t, f"out{k}"), "--image-size", size, "--per-host", 64,
                               "--shard-size", 1000, timeout=900)
                wall, cpu = time.time() - t0, cpu_children() - c0
                con = sqlite3.connect(db)
                ok = con.execute("SELECT count(*) FROM samples WHERE state = 'ok'").fetchone()[0]
                counts = json.loads(con.execute("SELECT counts FROM runs WHERE verb='fetch'").fetchone()[0])
                con.close()
                assert ok == n, f"only {ok} of {n} ok"
                crawls.append((ok / wall, ok / counts["seconds"], ok / cpu))
                shutil.rmtree(os.path.join(t, f"out{k}"))
        finally:
            ng.stop()
        floor, floor_cpu = max(floors)
        crawl_wall, crawl_inner, crawl_cpu = max(crawls)
        print(f"{n} JPEGs 640x480 ({mb:.0f} MB), --image-size {size}, {cores} cores, webp q90; best of 2")
        print()
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {cores} cores (a shared machine slows the wall-clock"
              " figures; images per CPU-second does not depend on it)")
        print()
        print("| measure | images/s (wall) | per core (wall) | vs floor | images per CPU-second | cores it got |")
        print("|---|---|---|---|---|---|")
        print(f"| floor: decode+resize+encode only, {cores} threads | {floor:.0f} | {floor / cores:.0f} | 100% "
              f"| {floor_cpu:.0f} | {floor / floor_cpu:.2f} |")
        print(f"| crawl: `ovseg fetch` on loopback (process wall time) | {crawl_wall:.0f} | {crawl_wall / cores:.0f} "
              f"| {100 * crawl_wall / floor:.0f}% | {crawl_cpu:.0f} ({100 * crawl_cpu / floor_cpu:.0f}% of floor) "
              f"| {crawl_wall / crawl_cpu:.2f} |")
        print(f"| crawl: `ovseg fetch` (its own timer, runs.counts) | {crawl_inner:.0f} | "
              f"{crawl_inner / cores:.0f} | {100 * crawl_inner / floor:.0f}% | | |")
        print()
        print(f"goals: crawl >= 90% of floor: {'met' if crawl_wall >= 0.9 * floor else 'NOT met'} (wall), "
              f"{'met' if crawl_cpu >= 0.9 * floor_cpu else 'NOT met'} (CPU); >= 120 images/s per core: "
              f"{'met' if crawl_wall / cores >= 120 else 'NOT met'} (wall), "
              f"{'met' if crawl_cpu >= 120 else 'NOT met'} (per CPU-second); img2dataset: ~40/core on CC12M")
    finally:
        shutil.rmtree(t, ignore_errors=True)


main()
