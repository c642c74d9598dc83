"""Build examples/quickstart/eval-prompts.jsonl: held-out prompts for the quickstart's eval (deterministic).

Each of the quickstart's tasks asked with question wordings the training prompts never use, over the same
candidate pool (the built-in policy answers from it), so no eval prompt hashes like a training prompt.
Run: python3 scripts/build_eval_prompts.py
"""
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QS = os.path.join(ROOT, "examples", "quickstart")
HELD_OUT = ["Could you walk me through how to {t}?", "Please tell me how I should {t}."]


def main():
    rng = random.Random(29)
    pools = {}
    with open(os.path.join(QS, "prompts.jsonl")) as f:
        for line in f:
            p = json.loads(line)
            task = next(c for c in p["candidates"] if c.startswith("I don't know how to "))[len("I don't know how to "):-1]
            pools.setdefault(task, sorted(p["candidates"]))
    out = []
    for task in sorted(pools):
        for q in HELD_OUT:
            cands = list(pools[task])
            rng.shuffle(cands)
            out.append({"prompt": [{"role": "user", "content": q.format(t=task)}], "candidates": cands})
    with open(os.path.join(QS, "eval-prompts.jsonl"), "w") as f:
        for p in out:
            f.write(json.dumps(p) + "\n")
    print(f"eval-prompts.jsonl: {len(out)} held-out prompts over {len(pools)} tasks")


if __name__ == "__main__":
    main()
