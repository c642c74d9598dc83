#!/usr/bin/env python3
"""Exact-answer checker for arithmetic prompts: the alignloop verifier protocol.

Usage: check_math.py IN OUT
IN: JSON lines {index, prompt_id, sample_id, prompt: [{role, content}], output}.
OUT: one line per sample, {"index": i, "pass": true|false}, or {"index": i, "error": why}
when the prompt holds no arithmetic question. The expected answer is computed from the
prompt itself ("What is 17 + 25?"); the answer is the last number in the output.
"""
import json
import re
import sys

QUESTION = re.compile(r"(-?\d+)\s*([-+*x×])\s*(-?\d+)")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def expected(prompt):
    text = " ".join(t["content"] for t in prompt if t["role"] == "user")
    m = QUESTION.search(text)
    if not m:
        return None
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    return a + b if op == "+" else a - b if op == "-" else a * b


def verdict(rec):
    want = expected(rec["prompt"])
    if want is None:
        return {"index": rec["index"], "error": "no arithmetic question in the prompt"}
    numbers = NUMBER.findall(rec["output"] or "")
    got = float(numbers[-1]) if numbers else None
    return {"index": rec["index"], "pass": got is not None and got == want}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_math.py IN OUT")
    with open(sys.argv[1], encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
        n = 0
        for line in f:
            if line.strip():
                out.write(json.dumps(verdict(json.loads(line))) + "\n")
                n += 1
    print(f"check_math: {n} samples checked", file=sys.stderr)


if __name__ == "__main__":
    main()
