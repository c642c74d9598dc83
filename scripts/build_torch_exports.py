#!/usr/bin/env python3
"""Real reward-model exports, the way people make them, with golden rewards from PyTorch.

    python3 scripts/build_torch_exports.py        (needs torch, transformers, onnx, onnxscript;
                                                    e.g. .e2e/venv/bin/python after npm run e2e:real)

Builds small random-weight sequence classifiers with transformers, exports them with
torch.onnx.export, and scores a corpus of conversations with the PyTorch models exactly as
transformers does (apply_chat_template, then the tokenizer without special tokens, one conversation
at a time). Writes, all committed (tests never need torch):

  test/fixtures/exports/decoder-llama/           LlamaForSequenceClassification, 1 label, byte-level BPE, ChatML
  test/fixtures/exports/decoder-llama-fp16/      the same weights exported in float16 (fp16 logits)
  test/fixtures/exports/decoder-llama-external/  the same model exported with external data (model.onnx + model.onnx.data)
  test/fixtures/exports/encoder-bert/            BertForSequenceClassification, 2 labels (reward = logit 1), token_type_ids, WordPiece
  test/fixtures/exports/golden.json              {model: [{prompt, response, reward}]} from the PyTorch forward passes
"""
import json
import os
import shutil
import sys

import onnx
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "exports")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from build_tiny_lm import build_tokenizer  # noqa: E402

SIMPLE_TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"

CORPUS = [
    ([{"role": "user", "content": "How do I bake bread at home?"}], "Mix flour, water, salt and yeast, let it rise, then bake it hot."),
    ([{"role": "user", "content": "How do I bake bread at home?"}], "Whatever. Search online."),
    ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a prime."}], "7"),
    ([{"role": "user", "content": "Translate: good morning"}], "Bonjour — guten Morgen — 早上好 — صباح الخير"),
    ([{"role": "user", "content": "ΟΔΥΣΣΕΥΣ in lowercase?"}], "οδυσσευς"),
    ([{"role": "user", "content": "  odd   spacing\tand\ttabs  "}], "  still   here \n\n"),
    ([{"role": "user", "content": "Emoji?"}], "Sure 👍🏽🎉 done."),
    ([{"role": "user", "content": "Long one"}], "word " * 60),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}], "Goodbye."),
    ([{"role": "user", "content": "Combining: e\u0301 vs \u00e9"}], "cafe\u0301 and caf\u00e9"),
    ([{"role": "user", "content": ""}], "An answer to nothing."),
    ([{"role": "user", "content": "Empty answer?"}], ""),
]


class LogitsOnly(torch.nn.Module):
    """What optimum exports: the named inputs in, the logits out (no cache, no dict)."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args):
        return self.model(**dict(zip(self.names, args))).logits


def export(model, inputs, names, path):
    dynamic = {n: {0: "batch", 1: "sequence"} for n in names}
    dynamic["logits"] = {0: "batch"}
    # The exporter puts the module back in the mode it found it in: a fresh wrapper would be in
    # training mode and turn dropout on in the model for the golden rewards computed afterwards.
    torch.onnx.export(
        LogitsOnly(model, names).eval(),
        tuple(inputs),
        path,
        input_names=names,
        output_names=["logits"],
        dynamic_axes=dynamic,
        opset_version=17,
        dynamo=False,
    )


def reward_of(model, tok, prompt, response, index, token_types):
    assert not model.training
    text = tok.apply_chat_template(prompt + [{"role": "assistant", "content": response}], tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    x = torch.tensor([ids])
    kw = {"input_ids": x, "attention_mask": torch.ones_like(x)}
    if token_types:
        kw["token_type_ids"] = torch.zeros_like(x)
    with torch.no_grad():
        return float(model(**kw).logits[0, index].float())


def decoder(golden):
    d = os.path.join(OUT, "decoder-llama")
    os.makedirs(d, exist_ok=True)
    t = build_tokenizer(d)
    pad = t.token_to_id("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=t.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=pad,
        eos_token_id=t.token_to_id("<|im_end|>"),
        bos_token_id=None,
        num_labels=1,
        use_cache=False,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(config).eval()
    model.config._attn_implementation = "eager"
    config.save_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    ids = torch.tensor([[5, 6, 7, pad]])
    mask = torch.tensor([[1, 1, 1, 0]])
    export(model, [ids, mask], ["input_ids", "attention_mask"], os.path.join(d, "model.onnx"))
    golden["decoder-llama"] = [{"prompt": p, "response": r, "reward": reward_of(model, tok, p, r, 0, False)} for p, r in CORPUS]

    ext = os.path.join(OUT, "decoder-llama-external")
    os.makedirs(ext, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(d, f), ext)
    export(model, [ids, mask], ["input_ids", "attention_mask"], os.path.join(ext, "model.onnx"))
    # As large exports come (and optimum writes them): the weights in model.onnx.data beside the graph.
    graph = onnx.load(os.path.join(ext, "model.onnx"))
    onnx.save_model(graph, os.path.join(ext, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)

    half = os.path.join(OUT, "decoder-llama-fp16")
    os.makedirs(half, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(d, f), half)
    export(model.half(), [ids, mask], ["input_ids", "attention_mask"], os.path.join(half, "model.onnx"))
    golden["decoder-llama-fp16"] = [{"prompt": p, "response": r, "reward": reward_of(model, tok, p, r, 0, False)} for p, r in CORPUS]


def encoder(golden):
    d = os.path.join(OUT, "encoder-bert")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "test", "fixtures", "parity", "bert-lower", "tokenizer.json"), d)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "cls_token": "[CLS]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "unk_token": "[UNK]",
                "model_max_length": 512,
                "chat_template": SIMPLE_TEMPLATE,
            },
            f,
            indent=1,
        )
    vocab = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=vocab["[PAD]"],
        num_labels=2,
        initializer_range=0.2,
    )
    torch.manual_seed(1)
    model = BertForSequenceClassification(config).eval()
    model.config._attn_implementation = "eager"
    config.save_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    ids = torch.tensor([[5, 6, 7, 0]])
    export(model, [ids, torch.ones_like(ids), torch.zeros_like(ids)], ["input_ids", "attention_mask", "token_type_ids"], os.path.join(d, "model.onnx"))
    golden["encoder-bert"] = [{"prompt": p, "response": r, "reward": reward_of(model, tok, p, r, 1, True)} for p, r in CORPUS]


def main():
    golden = {}
    decoder(golden)
    encoder(golden)
    with open(os.path.join(OUT, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print(f"exports and golden rewards -> {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
