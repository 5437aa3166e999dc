#!/usr/bin/env python3
"""The figures of make bench, from its raw rounds (Python standard library only).

  figures.py noisy SAMPLES ATTEMPT     names the cases whose rounds in ATTEMPT are noisy
  figures.py json META SAMPLES PERF OUT  writes the results JSON and prints the table
  figures.py table JSON                prints the table of a results JSON
  figures.py compare A.json B.json     CPU and wall ratios of two runs side by side;
                                       exits 1 when a CPU ratio moved by more than 10 %

SAMPLES has one line per round: "ATTEMPT ROUND CASE WALL_S USER_S SYS_S MAXRSS_KIB"
(round 0 is the attempt's untimed warm-up, kept but not counted). PERF has
"CASE ROUND INSTRUCTIONS" lines (empty when perf cannot count). META has
"KEY JSON-VALUE" lines; a dotted KEY nests ("machine.nproc 2").
"""
import json
import statistics
import sys

# A case whose slowest timed round is over this many times its fastest is noisy.
NOISY_SPREAD = 1.25
# Two runs of one commit agree when their CPU ratios are this close (issue 21).
CPU_RATIO_AGREEMENT = 0.10
INSTALL_CPU_GOAL = 1.05
CHECK_GOAL = 1.10
RSS_GOAL_MIB = 64
# Ratios reported: (numerator, denominator).
PAIRS = [
    ("ours_extract", "floor_extract"),
    ("ours_extract", "makeself_extract"),
    ("ours_check", "makeself_check"),
    ("ours_check", "sha256sum"),
]


def read_samples(path):
    """{case: {attempt: [round, ...]}} in file order, warm-ups included."""
    cases = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            attempt, rnd, case, wall, user, sys_, rss = line.split()
            rounds = cases.setdefault(case, {}).setdefault(int(attempt), [])
            rounds.append({
                "round": int(rnd), "warmup": rnd == "0", "wall_s": float(wall), "user_s": float(user),
                "sys_s": float(sys_), "cpu_s": round(float(user) + float(sys_), 6), "maxrss_kib": int(rss),
            })
    return cases


def timed(rounds):
    return [r for r in rounds if not r["warmup"]]


def spread(rounds):
    """Slowest over fastest wall time of the timed rounds."""
    walls = [r["wall_s"] for r in timed(rounds)]
    return max(walls) / min(walls) if walls and min(walls) > 0 else float("inf")


def is_noisy(rounds):
    return spread(rounds) > NOISY_SPREAD


def three(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            key, value = line.rstrip("\n").split(" ", 1)
            node = meta
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = json.loads(value)
    return meta


def read_perf(path):
    counts = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                case, rnd, n = line.split()
                counts.setdefault(case, []).append({"round": int(rnd), "instructions": int(n)})
    return counts


def case_figures(attempts, perf):
    """Per case: every attempt's rounds, and the figures of the last attempt."""
    last = max(attempts)
    rounds = timed(attempts[last])
    final = {
        "attempt": last,
        "rounds": len(rounds),
        "wall_s": three([r["wall_s"] for r in rounds]),
        "cpu_s": three([r["cpu_s"] for r in rounds]),
        "user_s": three([r["user_s"] for r in rounds]),
        "sys_s": three([r["sys_s"] for r in rounds]),
        "peak_rss_mib": round(max(r["maxrss_kib"] for r in rounds) / 1024, 1),
        "spread": round(spread(attempts[last]), 3),
        "noisy": is_noisy(attempts[last]),
        "instructions": three([p["instructions"] for p in perf]) if perf else None,
    }
    return {
        "attempts": [{"attempt": a, "spread": round(spread(rs), 3), "noisy": is_noisy(rs), "rounds": rs}
                     for a, rs in sorted(attempts.items())],
        "instruction_rounds": perf,
        "final": final,
    }


def ratio(a, b):
    return round(a / b, 3)


def goals(cases, meta):
    """[{name, met, figure}]: computed from the figures, never assumed."""
    f = {c: v["final"] for c, v in cases.items()}
    ours, floor, mk = f["ours_extract"], f["floor_extract"], f["makeself_extract"]
    cpu_floor = ratio(ours["cpu_s"]["median"], floor["cpu_s"]["median"])
    rss = max(f[c]["peak_rss_mib"] for c in ("ours_extract", "ours_check"))
    check = ratio(f["ours_check"]["wall_s"]["median"], f["sha256sum"]["wall_s"]["median"])
    sizes, stub = meta["sizes"], meta["stub_s"]
    stub_ok = all(stub[f"{a}_500mib"] <= stub[f"{a}_5mib"] * 1.2 + 0.002 for a in ("version", "help"))
    return [
        {"name": "install_cpu_le_1_05_floor", "met": cpu_floor <= INSTALL_CPU_GOAL,
         "figure": f"install's single pass (verified extract) CPU {cpu_floor} x the floor's (goal <= {INSTALL_CPU_GOAL})"},
        {"name": "install_wall_within_floor_spread", "met": ours["wall_s"]["median"] <= floor["wall_s"]["max"],
         "figure": f"verify + extract wall median {ours['wall_s']['median']:.3f} s, floor's rounds "
                   f"{floor['wall_s']['min']:.3f}..{floor['wall_s']['max']:.3f} s"},
        {"name": "install_cpu_below_makeself", "met": ours["cpu_s"]["median"] < mk["cpu_s"]["median"],
         "figure": f"CPU {ratio(ours['cpu_s']['median'], mk['cpu_s']['median'])} x makeself's check + extract"},
        {"name": "install_wall_below_makeself", "met": ours["wall_s"]["median"] < mk["wall_s"]["median"],
         "figure": f"wall {ratio(ours['wall_s']['median'], mk['wall_s']['median'])} x makeself's check + extract"},
        {"name": "peak_rss_le_64mib", "met": rss <= RSS_GOAL_MIB,
         "figure": f"helper peak RSS {rss} MiB (goal <= {RSS_GOAL_MIB} MiB)"},
        {"name": "check_within_1_10_sha256sum", "met": check <= CHECK_GOAL,
         "figure": f"--check wall {check} x sha256sum of the same file (goal <= {CHECK_GOAL})"},
        {"name": "run_not_larger_than_makeself", "met": sizes["ours_run_bytes"] <= sizes["makeself_run_bytes"],
         "figure": f".run {sizes['ours_run_bytes']} bytes, makeself {sizes['makeself_run_bytes']} bytes "
                   f"(difference {sizes['ours_run_bytes'] - sizes['makeself_run_bytes']}; our helper {sizes['helper_bytes']} bytes)"},
        {"name": "stub_start_independent_of_size", "met": stub_ok,
         "figure": f"--version 5 MiB {stub['version_5mib'] * 1000:.1f} ms, 500 MiB {stub['version_500mib'] * 1000:.1f} ms; "
                   f"--help {stub['help_5mib'] * 1000:.1f} ms, {stub['help_500mib'] * 1000:.1f} ms"},
    ]


def build(meta, samples, perf):
    raw = read_samples(samples)
    counts = read_perf(perf)
    cases = {c: case_figures(a, counts.get(c, [])) for c, a in raw.items()}
    first_noisy = [c for c, v in cases.items() if v["attempts"][0]["noisy"]]
    result = dict(meta)
    result["cases"] = cases
    result["noisy"] = {
        "spread_limit": NOISY_SPREAD,
        "first_attempt": first_noisy,
        "rerun_attempts": max(len(v["attempts"]) for v in cases.values()) - 1,
        "still_noisy": [c for c, v in cases.items() if v["final"]["noisy"]],
    }
    result["ratios"] = {}
    for a, b in PAIRS:
        fa, fb = cases[a]["final"], cases[b]["final"]
        r = {"wall_median": ratio(fa["wall_s"]["median"], fb["wall_s"]["median"]),
             "cpu_median": ratio(fa["cpu_s"]["median"], fb["cpu_s"]["median"]),
             "cpu_min": ratio(fa["cpu_s"]["min"], fb["cpu_s"]["min"])}
        if fa["instructions"] and fb["instructions"]:
            r["instructions_median"] = ratio(fa["instructions"]["median"], fb["instructions"]["median"])
        result["ratios"][f"{a}/{b}"] = r
    result["goals"] = goals(cases, meta)
    return result


def table(res):
    out = []
    w = out.append
    p = res["payload"]
    w(f"payload: {p['kind']} ({p['description']}), {p['unpacked_bytes']} bytes unpacked")
    m = res["machine"]
    w(f"machine: {m['nproc']} cores, {m['model_name']}; load {m['load_before']} before, {m['load_after']} after")
    w("")
    w(f"{'case':<17} {'wall s: min':>11} {'median':>7} {'max':>7} {'cpu s: min':>11} {'median':>7} {'max':>7}"
      f" {'RSS MiB':>8} {'Minstr':>8}  rounds")
    for c, v in res["cases"].items():
        f = v["final"]
        ws, cs = f["wall_s"], f["cpu_s"]
        ins = f"{f['instructions']['median'] / 1e6:8.0f}" if f["instructions"] else f"{'-':>8}"
        note = f"{f['rounds']} of attempt {f['attempt']}" + (f", NOISY ({f['spread']}x)" if f["noisy"] else "")
        w(f"{c:<17} {ws['min']:11.3f} {ws['median']:7.3f} {ws['max']:7.3f} {cs['min']:11.3f} {cs['median']:7.3f}"
          f" {cs['max']:7.3f} {f['peak_rss_mib']:8.1f} {ins}  {note}")
    n = res["noisy"]
    w("")
    w(f"noisy (wall max/min > {n['spread_limit']}): {len(n['first_attempt'])} of {len(res['cases'])} cases on the "
      f"first attempt{(' (' + ', '.join(n['first_attempt']) + ')') if n['first_attempt'] else ''}; "
      f"{n['rerun_attempts']} re-run attempt(s); still noisy: {len(n['still_noisy'])}"
      f"{(' (' + ', '.join(n['still_noisy']) + ')') if n['still_noisy'] else ''}")
    ins = res["instructions"]
    w(f"instructions retired: {'counted by perf stat' if ins['available'] else 'not counted: ' + ins['note']}")
    w("")
    w(f"{'ratio of medians (cpu min: of minima)':<38} {'wall':>6} {'cpu':>6} {'cpu min':>7} {'instr':>6}")
    for k, r in res["ratios"].items():
        w(f"{k:<38} {r['wall_median']:6.3f} {r['cpu_median']:6.3f} {r['cpu_min']:7.3f} {r.get('instructions_median', '-'):>6}")
    w("")
    w("CPU median, user + sys: " + "; ".join(
        f"{c} {v['final']['user_s']['median']:.2f} + {v['final']['sys_s']['median']:.2f}" for c, v in res["cases"].items()))
    w("")
    w("goals:")
    for g in res["goals"]:
        w(f"  {'met' if g['met'] else 'MISSED':<6} {g['figure']}")
    return "\n".join(out)


def compare(a, b):
    """Lines comparing the ratios of two results, and whether their CPU ratios agree."""
    out = [f"{n}: {r['commit']}, load {r['machine']['load_before']} before, busy cores "
           f"{r.get('settings', {}).get('busy_cpus', 0)}" for n, r in (("A", a), ("B", b))]
    if a["payload"].get("sha256") != b["payload"].get("sha256"):
        out.append("note: the runs timed different payloads (their sha256 differ): their ratios need not agree")
    out.append(f"{'ratio (of medians)':<34} {'cpu A':>6} {'cpu B':>6} {'moved':>7} {'wall A':>7} {'wall B':>7}")
    agree = True
    for k, ra in a["ratios"].items():
        rb = b["ratios"][k]
        moved = rb["cpu_median"] / ra["cpu_median"] - 1
        ok = abs(moved) <= CPU_RATIO_AGREEMENT
        agree = agree and ok
        out.append(f"{k:<34} {ra['cpu_median']:6.3f} {rb['cpu_median']:6.3f} {moved:+7.1%} {ra['wall_median']:7.3f}"
                   f" {rb['wall_median']:7.3f}{'' if ok else '  MISSED: CPU ratio moved by more than 10 %'}")
    return out, agree


def main(argv):
    if len(argv) == 4 and argv[1] == "noisy":
        raw = read_samples(argv[2])
        for c, attempts in raw.items():
            rounds = attempts.get(int(argv[3]))
            if rounds and is_noisy(rounds):
                print(c)
    elif len(argv) == 6 and argv[1] == "json":
        res = build(read_meta(argv[2]), argv[3], argv[4])
        with open(argv[5], "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        print(table(res))
    elif len(argv) == 4 and argv[1] == "compare":
        with open(argv[2]) as fa, open(argv[3]) as fb:
            lines, agree = compare(json.load(fa), json.load(fb))
        print("\n".join(lines))
        return 0 if agree else 1
    elif len(argv) == 3 and argv[1] == "table":
        with open(argv[2]) as f:
            print(table(json.load(f)))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
