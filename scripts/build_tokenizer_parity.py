#!/usr/bin/env python3
"""More tokenizer pipelines for the parity tests (outputs committed; tests never rebuild them).

    pip install tokenizers && python3 scripts/build_tokenizer_parity.py

The pipelines where @huggingface/tokenizers (JavaScript) and HF `tokenizers` (Rust) can disagree
on Unicode: the `Whitespace` pre-tokenizer (Rust's \\w is Unicode-aware), `WhitespaceSplit`, the
`Strip` normalizer and the byte-level pre-tokenizer's GPT-2 regex (Rust's whitespace is Unicode
White_Space: U+0085 yes, U+FEFF no), and a DeBERTa-v3 tokenizer (Unigram, SentencePiece's
Precompiled normalizer, Metaspace; the pipeline of OpenAssistant's DeBERTa reward models). Trains
the first three on the parity corpus; the DeBERTa one is
committed as made once (a SentencePiece unigram model trained on the quickstart texts, converted by
transformers 4.46's DebertaV2TokenizerFast: the conversion transformers 5 no longer ships) and is
only read here. Writes test/fixtures/parity/more-tokenizers/<kind>/tokenizer.json and
more-token-cases.json: each text of build_parity.py's corpus (plus edge cases) alone and, for
DeBERTa, as a (question, text) pair, with the ids and segment ids Rust gives.
"""
import json
import os
import sys

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build_parity import TEXTS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "parity", "more-tokenizers")

EDGES = [
    "café crème brûlée naïve",
    "\u0085 next-line at both ends \u0085",
    "a \u0085 b \ufeff c\u0085\u0085  d \ufeff\ufeff",
    "\ufeff BOM first",
    "tabs\tand\u00a0no-break\u2003em-space\u3000ideographic",
    "Ελληνικά ΣΟΦΙΑ and 日本語 and עברית",
    "under_score snake_case x2 ½ ²",
    "  ",
]


def train(kind):
    corpus = TEXTS * 20 + [" ".join(TEXTS)] * 5
    if kind == "bytelevel-gpt2":
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif kind == "wordpiece-whitespace":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]"])
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.Sequence([normalizers.Strip(), normalizers.NFKC()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
        trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "<unk>"], unk_token="<unk>")
    tok.train_from_iterator(corpus, trainer)
    return tok


def main():
    cases = []
    texts = TEXTS + EDGES
    for kind in ("wordpiece-whitespace", "unigram-strip", "bytelevel-gpt2"):
        d = os.path.join(OUT, kind)
        os.makedirs(d, exist_ok=True)
        tok = train(kind)
        tok.save(os.path.join(d, "tokenizer.json"))
    for kind in ("wordpiece-whitespace", "unigram-strip", "bytelevel-gpt2", "deberta-v3"):
        tok = Tokenizer.from_file(os.path.join(OUT, kind, "tokenizer.json"))
        for t in texts:
            cases.append({"tokenizer": kind, "text": t, "ids": tok.encode(t, add_special_tokens=False).ids})
    deberta = Tokenizer.from_file(os.path.join(OUT, "deberta-v3", "tokenizer.json"))
    for t in texts:
        if t == "":
            continue
        e = deberta.encode("What do you say?", t)
        cases.append({"tokenizer": "deberta-v3", "pair": ["What do you say?", t], "ids": e.ids, "type_ids": e.type_ids})
    with open(os.path.join(OUT, "more-token-cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
    print(f"wrote {len(cases)} token cases to {OUT}")


if __name__ == "__main__":
    main()
