#!/usr/bin/env python3
"""Counts test cases in Bazel's test.xml files (JUnit XML from GoogleTest).

Usage: count_tests.py TESTLOGS_DIR LABEL
Prints one line "passed failed skipped" and, on stderr, each failed or
skipped case with its target, so the summary says what to look at.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    root, label = sys.argv[1], sys.argv[2]
    passed = failed = skipped = 0
    for dirpath, _, files in os.walk(root, followlinks=True):
        if "test.xml" not in files:
            continue
        target = os.path.relpath(dirpath, root)
        path = os.path.join(dirpath, "test.xml")
        try:
            tree = ET.parse(path)
        except ET.ParseError:
            failed += 1
            print(f"  FAILED [{label}] {target}: unreadable test.xml", file=sys.stderr)
            continue
        cases = list(tree.iter("testcase"))
        if not cases:
            # Bazel writes a case-less file when the binary died early.
            suites = list(tree.iter("testsuite"))
            bad = any(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
            if bad or not suites:
                failed += 1
                print(f"  FAILED [{label}] {target}: no test cases ran", file=sys.stderr)
            continue
        for case in cases:
            name = f"{case.get('classname', '')}.{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                print(f"  FAILED [{label}] {target}: {name}", file=sys.stderr)
            elif case.get("result") == "skipped" or case.find("skipped") is not None:
                skipped += 1
                msg = ""
                s = case.find("skipped")
                if s is not None and s.get("message"):
                    msg = " (" + s.get("message").strip().splitlines()[-1] + ")"
                print(f"  skipped [{label}] {target}: {name}{msg}", file=sys.stderr)
            else:
                passed += 1
    print(passed, failed, skipped)


if __name__ == "__main__":
    main()
