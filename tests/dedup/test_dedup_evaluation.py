"""Precision and recall of the near-duplicate decision on the committed, labelled pairs.

tests/dedup/pairs.jsonl (built by tests/dedup/build_pairs.py from hand-written texts) holds
resends with typos, SMS abbreviations, the 160-character cut, greetings, quoted and forwarded
mail and channel changes, and hard negatives: same place other problem, same problem other
place, short template texts and follow-ups that quote the first complaint.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gateway.config import DedupConfig
from normalizer.fingerprint import features, similarity

PAIRS = [json.loads(line) for line in Path(__file__).with_name("pairs.jsonl").read_text().splitlines()]
RECALL_FLOOR = 0.90  # measured 0.917 at the default threshold 0.8 (paraphrases are most of the misses)


def score(threshold: float) -> tuple[float, float, Counter[str]]:
    true_pos = false_pos = false_neg = 0
    false_merges: Counter[str] = Counter()
    for pair in PAIRS:
        linked = similarity(features(pair["a"]), features(pair["b"])) >= threshold
        duplicate = pair["label"] == "duplicate"
        true_pos += linked and duplicate
        false_pos += linked and not duplicate
        false_neg += duplicate and not linked
        if linked and not duplicate:
            false_merges[pair["kind"]] += 1
    return true_pos / max(1, true_pos + false_pos), true_pos / (true_pos + false_neg), false_merges


def test_the_set_is_large_and_balanced_enough():
    labels = Counter(pair["label"] for pair in PAIRS)
    kinds = Counter(pair["kind"] for pair in PAIRS)
    assert len(PAIRS) >= 300
    assert labels["duplicate"] >= 100 and labels["distinct"] >= 100
    for kind in ("resend_truncated_160", "email_quoted", "email_forwarded", "channel_change_sms_to_whatsapp",
                 "same_place_other_problem", "same_problem_other_place", "short_template"):
        assert kinds[kind] >= 10, kind


def test_precision_first_at_the_default_threshold():
    precision, recall, false_merges = score(DedupConfig().threshold)
    print(f"threshold {DedupConfig().threshold}: precision {precision:.3f} recall {recall:.3f} on {len(PAIRS)} pairs")
    assert precision >= 0.98, false_merges
    assert recall >= RECALL_FLOOR


def test_similarity_is_symmetric_on_the_set():
    for pair in PAIRS[::7]:
        a, b = features(pair["a"]), features(pair["b"])
        assert similarity(a, b) == similarity(b, a), pair["id"]
