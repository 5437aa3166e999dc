"""One PASS/FAIL line per check, and the closing count tests/run sums."""

import sys

_counts = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        _counts["passed"] += 1
        print(f"PASS chart {name}", flush=True)
    else:
        _counts["failed"] += 1
        print(f"FAIL chart {name}" + (f": {detail}" if detail else ""), flush=True)


def guarded(name, fn, *args):
    """Runs a group of checks; a crash is one failure, not the end of the suite."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - any crash is the finding
        check(f"{name} ran to completion", False, f"{type(e).__name__}: {e}"[:400])
        return None


def finish():
    print(f"{_counts['passed']} passed, {_counts['failed']} failed")
    sys.exit(1 if _counts["failed"] else 0)
