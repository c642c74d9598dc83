#!/usr/bin/env python3
"""Build a tiny random-weight causal LM in the Hugging Face layout, deterministically.

    python3 scripts/build_tiny_lm.py OUT_DIR [--tokenizer-only]

It is what a real trainer (TRL, HALOs, OpenRLHF) and a real server (vLLM, transformers serve) load:
config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json with a
ChatML chat template. The weights are random (seed 0): the model writes gibberish, which is all an
end-to-end run of the loop needs. About 0.3 M parameters, so it trains on a CPU in seconds.

The tokenizer (byte-level BPE, 512 tokens, trained on the quickstart prompts) needs only the
`tokenizers` package; the model needs `torch` and `transformers` (--tokenizer-only skips it).
"""
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def corpus():
    with open(os.path.join(ROOT, "examples", "quickstart", "prompts.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            for turn in rec["prompt"]:
                yield turn["content"]
            for c in rec.get("candidates", []):
                yield c


def build_tokenizer(out):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, min_frequency=2, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(corpus(), trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": 512,
        "chat_template": CHATML,
        "clean_up_tokenization_spaces": False,
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, f, indent=1)
    return tok


def build_model(out, tok):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    pad, eos = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|im_end|>")
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True, temperature=1.0, max_new_tokens=32).save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    out = os.path.abspath(args[0])
    os.makedirs(out, exist_ok=True)
    tok = build_tokenizer(out)
    if "--tokenizer-only" in sys.argv:
        print(f"tokenizer ({tok.get_vocab_size()} tokens) -> {out}")
        return
    n = build_model(out, tok)
    print(f"tiny causal LM: {n} parameters, {tok.get_vocab_size()} tokens -> {out}")


if __name__ == "__main__":
    main()
