"""How fast IFBench rule-based scoring runs: responses scored per second on one core.

Scores one synthetic response per IFBench test prompt (294) several times over and prints the throughput, plus the
slowest constraint types. Responses are generated deterministically to look like chat answers: a friendly opening
line, a few paragraphs of 12-25-word sentences, a bulleted list and a closing line, 150-450 words in all.

Run: ``python benchmarks/ifbench_scoring.py [--repeats 3]``. Target: at least 200 responses per second.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import defaultdict

from persona_lib.paths import data_dir
from persona_lib.scoring import load_ifbench_prompts, score_ifbench_response

TARGET_PER_SECOND = 200
_WORDS = (
    "the a of and to in that it is was for on with as be this by at from people idea system answer question "
    "history science city river market policy model energy water music story light theory data value change "
    "practical simple careful important different several early modern quickly often usually clearly really "
    "explain consider compare suggest remember build improve measure choose describe"
).split()
_OPENINGS = ("Great question!", "Sure, here is a short overview.", "Happy to help with that.", "Let me explain.")
_CLOSINGS = ("I hope this helps!", "Let me know if you want more detail.", "Good luck with it.")


def synthetic_response(rng: random.Random) -> str:
    """A chat-style answer of 150-450 words built from a fixed vocabulary."""

    def sentence() -> str:
        words = rng.choices(_WORDS, k=rng.randint(12, 25))
        return " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))

    paragraphs = [" ".join(sentence() for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(2, 4))]
    bullets = "\n".join(f"* **{rng.choice(_WORDS).title()}**: {sentence()}" for _ in range(rng.randint(2, 5)))
    return "\n\n".join([rng.choice(_OPENINGS), *paragraphs, bullets, rng.choice(_CLOSINGS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes over the 294 prompts (default 3)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    prompts = load_ifbench_prompts(data_dir() / "ifbench" / "IFBench_test.jsonl")  # also imports the checkers
    rng = random.Random(20260)
    responses = [synthetic_response(rng) for _ in prompts]
    score_ifbench_response(prompts[0], responses[0])  # warm-up

    seconds_by_instruction: dict[str, list[float]] = defaultdict(list)
    unscorable = 0
    start = time.perf_counter()
    for _ in range(args.repeats):
        for prompt, response in zip(prompts, responses):
            began = time.perf_counter()
            result = score_ifbench_response(prompt, response)
            elapsed = time.perf_counter() - began
            unscorable += result.error is not None
            for instruction_id in prompt.instruction_id_list:
                seconds_by_instruction[instruction_id].append(elapsed)
    total = time.perf_counter() - start

    n_scored = args.repeats * len(prompts)
    rate = n_scored / total
    print(
        f"IFBench scoring, one core: {n_scored} responses in {total:.2f} s = {rate:,.0f} responses/s "
        f"(target >= {TARGET_PER_SECOND}/s: {'met' if rate >= TARGET_PER_SECOND else 'NOT met'})"
    )
    print(
        f"mean response length {statistics.mean(len(r.split()) for r in responses):.0f} words; "
        f"{unscorable // args.repeats} of {len(prompts)} prompts unscorable on this machine (skipped quickly)"
    )
    slowest = sorted(seconds_by_instruction.items(), key=lambda item: -statistics.mean(item[1]))[:5]
    print("slowest constraint types (mean ms per response):")
    for instruction_id, seconds in slowest:
        print(f"  {instruction_id:<36} {1000 * statistics.mean(seconds):6.2f}")


if __name__ == "__main__":
    main()
