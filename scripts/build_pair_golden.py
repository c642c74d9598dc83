"""
Sentence-pair fixtures: encoder reward models (OpenAssistant's DeBERTa ones, many BERT/RoBERTa RMs)
are called as `tokenizer(question, answer)`, with [CLS] q [SEP] a [SEP] and segment ids 0/1.
Writes test/fixtures/exports/encoder-bert-pair/ (the encoder-bert export with a real BERT
post-processor and no chat template) and pair-golden.json: for each conversation of golden.json's
encoder-bert corpus, the ids and token_type_ids transformers' tokenizer gives for the pair, and the
reward ONNX Runtime (Python) computes from them. Run once, outputs committed:

    python scripts/build_pair_golden.py     # needs transformers and onnxruntime
"""
import json
import os
import shutil

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = os.path.join(ROOT, "test", "fixtures", "exports")
SRC = os.path.join(EXPORTS, "encoder-bert")
OUT = os.path.join(EXPORTS, "encoder-bert-pair")


def pair_question(prompt):
    """Mirrors pairQuestion in activities/score/render.ts."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return "\n".join(f"{t['role']}: {t['content']}" for t in prompt)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in ("model.onnx", "config.json"):
        shutil.copy(os.path.join(SRC, f), OUT)
    tok_json = json.load(open(os.path.join(SRC, "tokenizer.json"), encoding="utf-8"))
    vocab = tok_json["model"]["vocab"]
    special = lambda t, type_id: {"SpecialToken": {"id": t, "type_id": type_id}}
    seq = lambda s, type_id: {"Sequence": {"id": s, "type_id": type_id}}
    tok_json["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)],
        "pair": [special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1), special("[SEP]", 1)],
        "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
    }
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok_json, f, ensure_ascii=False)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "tokenizer_class": "BertTokenizer",
                "cls_token": "[CLS]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "unk_token": "[UNK]",
                "model_max_length": 512,
            },
            f,
            indent=1,
        )

    tok = AutoTokenizer.from_pretrained(OUT)
    raw = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    session = ort.InferenceSession(os.path.join(OUT, "model.onnx"), providers=["CPUExecutionProvider"])
    corpus = json.load(open(os.path.join(EXPORTS, "golden.json"), encoding="utf-8"))["encoder-bert"]
    golden = []
    for g in corpus:
        enc = tok(pair_question(g["prompt"]), g["response"])
        # transformers' BertTokenizer and the tokenizer.json it was saved with agree on the pair;
        # an empty answer is no pair to transformers (`if text_pair`): one sequence.
        q, a = pair_question(g["prompt"]), g["response"]
        assert enc["input_ids"] == (raw.encode(q, a) if a else raw.encode(q)).ids
        feeds = {k: np.array([enc[k]], dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        logits = session.run(["logits"], feeds)[0]
        golden.append(
            {
                "prompt": g["prompt"],
                "response": g["response"],
                "input_ids": enc["input_ids"],
                "token_type_ids": enc["token_type_ids"],
                "reward": float(logits[0][1]),
            }
        )
    assert any(1 in g["token_type_ids"] for g in golden)
    with open(os.path.join(EXPORTS, "pair-golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
    print(f"wrote {OUT} and pair-golden.json ({len(golden)} conversations)")


if __name__ == "__main__":
    main()
