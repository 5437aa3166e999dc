"""The docs describe what exists: every command in docs/operations.md and
README.md is checked against the real --help output (subcommand and each
option), every host path the docs name appears in the code that
creates or reads it, and test-vm/run --help names everything the script
takes. Run by tests/docs/run with the built .run file."""

import glob
import os
import re
import subprocess
import sys

ROOT, RUN = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS docs {name}")
    else:
        failed += 1
        print(f"FAIL docs {name}" + (f": {detail}" if detail else ""))


def helper_help(words):
    out = subprocess.run(["sh", RUN, *words, "--help"], capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


STUB_OPTIONS = {"--check", "--info", "--list", "--extract", "--help", "--version"}
# Commands as the docs show them: `sudo sh floppies-installer.run ...`, `floppies ...`.
COMMAND = re.compile(r"^(?:sudo )?(?:sh floppies-installer(?:-NEW(?:-from-OLD)?)?\.run|floppies) (.*)$")


def commands_in(path):
    found = []
    text = open(path).read()
    for block in re.findall(r"```[a-z]*\n(.*?)```|\n((?:    .*\n)+)", text, re.S):
        for line in "".join(block).splitlines():
            line = line.strip().split("  #")[0].strip()
            m = COMMAND.match(line)
            if m:
                found.append(m.group(1))
    # Inline: `floppies debug cpu-level`, `--wait-timeout 1800` in tables.
    found += [m for m in re.findall(r"`(?:sudo )?floppies ([a-z][^`]*)`", text)]
    return found


def check_command(doc, args):
    words = args.split()
    if words[0] in STUB_OPTIONS:
        code, text = subprocess.run(["sh", RUN, "--help"], capture_output=True, text=True).returncode, \
            subprocess.run(["sh", RUN, "--help"], capture_output=True, text=True).stdout
        check(f"{doc}: '{args}' is a stub option", words[0] in text, text[:200])
        return
    sub = [w for w in words if not w.startswith("-") and re.fullmatch(r"[a-z][a-z-]*", w)][:2]
    # Subcommands are the leading plain words; `debug cpu-level` and `node add` have two.
    path = sub[:1] if sub and sub[0] not in ("debug", "node") else sub[:2]
    code, text = helper_help(path)
    ok = code == 0 and "Usage:" in text
    bad = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in text and w not in ("--help",)]
    check(f"{doc}: '{args}' exists with these options", ok and not bad, f"exit {code}, unknown options {bad}")


def known_path(path, code):
    """The longest prefix of PATH that the code names, and every further
    component as a string literal (paths are joined from parts in code)."""
    parts = path.split("/")
    for cut in range(len(parts), 2, -1):
        if "/".join(parts[:cut]) in code:
            rest = parts[cut:]
            return all(re.search(r'"[^"\n]*' + re.escape(c) + r'[^"\n]*"', code) for c in rest)
    return False


def check_vm_help():
    """test-vm/run --help names every option its parse_args accepts, every
    FLOPPIES_* variable it reads, every scenario file and every exit code."""
    script = os.path.join(ROOT, "test-vm", "run")
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    text = out.stdout
    check("test-vm/run --help exits 0 and prints the usage", out.returncode == 0 and text.startswith("Usage:"),
          f"exit {out.returncode}: {(out.stdout + out.stderr)[:200]}")
    src = open(script).read()
    parse = re.search(r"^parse_args\(\) \{\n(.*?)^\}", src, re.S | re.M)
    options = sorted({o for pat in re.findall(r"^\s*(-[-a-z|]+)\)", parse.group(1) if parse else "", re.M)
                      for o in pat.split("|")})
    missing = [o for o in options if not re.search(r"(^|[\s\[|,])" + re.escape(o) + r"\b", text, re.M)]
    check(f"test-vm/run --help names every option it parses ({len(options)})", len(options) >= 7 and not missing,
          f"parsed {options}; missing {missing}")
    knobs = sorted(set(re.findall(r"\$\{(FLOPPIES_[A-Z0-9_]+)", src)))
    missing = [k for k in knobs if not re.search(r"\b" + k + r"\b", text)]
    check(f"test-vm/run --help names every FLOPPIES_* variable it reads ({len(knobs)})", knobs and not missing,
          f"missing {missing}")
    scenarios = sorted(os.path.basename(f)[:-3] for f in glob.glob(os.path.join(ROOT, "test-vm", "scenarios", "[0-9]*.sh")))
    missing = [n for n in scenarios if not re.search(r"^\s+" + re.escape(n) + r"\s", text, re.M)]
    check(f"test-vm/run --help lists every scenario under test-vm/scenarios/ ({len(scenarios)})",
          scenarios and not missing, f"missing {missing}")
    # Codes the script exits with itself; 1 is a failed check (main's last test).
    codes = sorted({"1"} | set(re.findall(r"\bexit (\d+)", src)))
    section = text.split("Exit codes:", 1)[-1] if "Exit codes:" in text else ""
    missing = [c for c in codes if not re.search(r"^\s+" + c + r"\s", section, re.M)]
    check(f"test-vm/run --help explains every exit code ({' '.join(codes)})", not missing,
          f"missing {missing} under 'Exit codes:'")


def main():
    check_vm_help()
    docs = [os.path.join(ROOT, "docs", "operations.md"), os.path.join(ROOT, "README.md")]
    seen = set()
    for doc in docs:
        for args in commands_in(doc):
            key = (os.path.basename(doc), args)
            if key in seen:
                continue
            seen.add(key)
            check_command(os.path.basename(doc), args)
    ops = open(os.path.join(ROOT, "docs", "operations.md")).read()
    helps = "".join(helper_help(cmd)[1] for cmd in (["install"], ["uninstall"], ["diagnose"], ["join"], ["node", "add"]))
    for opt in sorted(set(re.findall(r"`(--[a-z-]+)[ `]", ops))):
        check(f"operations.md: option {opt} exists", opt in helps or opt in STUB_OPTIONS)

    # Host paths named in the docs appear in the code that uses them.
    code = ""
    for pattern in ("helper/src/**/*.rs", "stub.sh", "charts/floppies/**/*", "test-vm/stand-ins/*"):
        for f in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            if os.path.isfile(f):
                code += open(f, errors="replace").read()
    for doc in ("operations.md", "overview.md", "security.md"):
        text = open(os.path.join(ROOT, "docs", doc)).read()
        paths = sorted(set(re.findall(r"`(/(?:opt|var|etc|usr|run)/[A-Za-z0-9_./*-]+)`", text)))
        missing = []
        for p in paths:
            p = p.rstrip("/").split("*")[0].rstrip("/-")
            if not known_path(p, code):
                missing.append(p)
        check(f"{doc}: every host path it names is used by the code ({len(paths)} paths)", not missing, str(missing))

    check_exit_codes()

    # Nothing claims verification against real k3s.
    for f in glob.glob(os.path.join(ROOT, "docs", "*.md")) + [os.path.join(ROOT, "README.md")]:
        text = open(f).read().lower()
        claims = re.findall(r"(?:verified|tested|proven) (?:on|with|against) real k3s", text)
        negated = re.findall(r"(?:not|never|no result[^.]*) (?:verified|tested|proven) (?:on|with|against) real k3s", text)
        check(f"{os.path.basename(f)} claims no verification against real k3s", len(claims) == len(negated), str(claims))


def check_exit_codes():
    """README's exit-code paragraph is the stub's --help line, and the
    operations.md table is the helper's --help list (both made from the one
    list in the format crate)."""
    stub = subprocess.run(["sh", RUN, "--help"], capture_output=True, text=True).stdout
    block = stub[stub.find("Exit codes:"):]
    short = re.findall(r"(\d) ([a-z][a-z ]*?)[,.]", " ".join(block.split()))
    check("the stub's --help lists exit codes", len(short) >= 5, block[:300])
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    first = " ".join(section.strip().split("\n\n")[0].split())
    listed = re.findall(r"(\d) ([a-z][a-z ]*?)[,.]", first.split("(")[0])
    check("README.md's exit codes are the stub's", listed == short, f"README {listed} vs stub {short}")
    helper = subprocess.run(["sh", RUN, "help"], capture_output=True, text=True).stdout
    meanings = re.findall(r"^  (\d)  (.+)$", helper.split("Exit codes:", 1)[-1], re.M)
    check("the helper's help lists exit codes", len(meanings) == len(short), helper[-600:])
    ops = open(os.path.join(ROOT, "docs", "operations.md")).read()
    rows = [(c, m.replace("`", "").strip()) for c, m in re.findall(r"^\| (\d) \| (.+?) \|$", ops.split("## Exit codes", 1)[1], re.M)]
    check("docs/operations.md's exit-code table is the helper's", rows == meanings, f"operations.md {rows} vs helper {meanings}")


if __name__ == "__main__":
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
