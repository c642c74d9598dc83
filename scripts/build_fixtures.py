#!/usr/bin/env python3
"""Build the quickstart data and the small ONNX reward models, deterministically.

    npm run fixtures:models        (needs: pip install onnx numpy)

Writes (all committed; tests load these files and never rebuild them):
  examples/quickstart/prompts.jsonl        240 prompts, each with a pool of 10 candidate responses
  examples/quickstart/reward-model/        Bradley-Terry reward model (num_labels = 2, reward = logits[:, 1]),
                                           trained with numpy on preference pairs from the pools
  test/fixtures/models/decoder-rm/         decoder-shaped model, num_labels = 1: causal running mean, pools the
                                           token before the first pad_token_id (as HF *ForSequenceClassification do)
  test/fixtures/models/encoder-tt/         encoder that also takes token_type_ids, num_labels = 1
  test/fixtures/models/decoder-fp16-int32/ decoder-rm as some exports come: int32 input_ids / attention_mask, float16 logits
  test/fixtures/models/decoder-past/       decoder-rm exported "with past": extra past_key_values inputs (refused clearly)

    python3 scripts/build_fixtures.py variants   rebuilds only the two decoder-rm variants
"""
import json
import os
import random
import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = random.Random(1234)
np_rng = np.random.default_rng(1234)

TASKS = [
    ("bake bread at home", ["mix flour, water, salt and yeast", "let the dough rise for two hours", "bake it in a hot oven"]),
    ("learn to play guitar", ["learn three basic chords", "practice ten minutes every day", "play along with simple songs"]),
    ("fix a flat bicycle tire", ["remove the wheel and the tube", "find the hole and patch it", "inflate the tire and check it"]),
    ("start running", ["buy comfortable shoes", "alternate walking and running", "add a few minutes each week"]),
    ("save money each month", ["track what you spend", "set a budget for each category", "move savings on payday"]),
    ("write a cover letter", ["read the job description", "match your skills to it", "keep it to one page"]),
    ("grow tomatoes", ["pick a sunny spot", "water deeply twice a week", "support the plants with stakes"]),
    ("learn python", ["install python and an editor", "work through a short tutorial", "build a small project"]),
    ("sleep better", ["keep a regular bedtime", "avoid screens before bed", "keep the room dark and cool"]),
    ("prepare for an interview", ["research the company", "practice common questions", "prepare questions to ask"]),
    ("clean a laptop keyboard", ["turn the laptop off", "use compressed air", "wipe the keys with a damp cloth"]),
    ("make a budget spreadsheet", ["list your income", "list fixed and variable costs", "compare plan and actual monthly"]),
    ("learn a new language", ["learn common words first", "practice speaking with others", "review with flash cards"]),
    ("paint a room", ["move furniture and cover the floor", "apply primer", "paint two thin coats"]),
    ("reduce stress at work", ["take short breaks", "write down priorities", "talk to your manager about workload"]),
    ("cook rice", ["rinse the rice", "use the right amount of water", "simmer covered and let it rest"]),
    ("back up a computer", ["buy an external drive", "turn on automatic backups", "test a restore now and then"]),
    ("train a puppy", ["use short sessions", "reward good behavior right away", "be consistent with commands"]),
    ("write a short story", ["pick one main character", "give them a clear problem", "revise the draft twice"]),
    ("change a car tire", ["park on flat ground", "loosen the nuts before lifting", "tighten the nuts in a star pattern"]),
    ("study for an exam", ["make a schedule", "test yourself often", "sleep well before the exam"]),
    ("set up a home network", ["place the router centrally", "change the default password", "use strong encryption"]),
    ("make cold brew coffee", ["grind the beans coarsely", "steep in cold water overnight", "strain and dilute to taste"]),
    ("give a good presentation", ["know your main message", "rehearse out loud", "keep slides simple"]),
]
QUESTIONS = [
    "How do I {t}?", "What is the best way to {t}?", "Can you help me {t}?", "Give me tips to {t}.",
    "Explain how to {t}.", "I want to {t}. Where do I start?", "What steps should I follow to {t}?",
    "Any advice on how to {t}?", "Teach me to {t}.", "I am a beginner. How can I {t}?",
]

def responses(task, steps):
    s1, s2, s3 = steps
    tiers = [
        (5, f"Here is a clear plan to {task}. First, {s1}. Next, {s2}. Finally, {s3}. Take it step by step and check your progress."),
        (5, f"Good question. To {task}, first {s1}, then {s2}, and finally {s3}. Be patient and ask for feedback if you get stuck."),
        (4, f"Step one: {s1}. Step two: {s2}. Step three: {s3}. That covers the essentials."),
        (4, f"To {task}, start by making sure you {s1}. After that, {s2}. Check the result carefully."),
        (3, f"You should {s1} and maybe {s2}."),
        (2, f"Well, um, basically you know, to {task} you kind of just do it, I guess, it sort of depends on a lot of things really."),
        (2, f"It depends. Some people {s3}, others do not."),
        (1, f"I don't know how to {task}."),
        (0, f"Why would you want to {task}? Figure it out yourself."),
        (0, "Whatever. Search online, it is boring to explain."),
    ]
    return tiers

def tokenize(text):
    return re.findall(r"\w+|[^\w\s]", text.lower())

def plain_format(prompt, response):
    # Must match activities/score/render.ts plainFormat().
    return "".join(f"{t['role']}: {t['content']}\n" for t in prompt) + f"assistant: {response}"

def build_quickstart():
    prompts = []
    for ti, (task, steps) in enumerate(TASKS):
        for qi, q in enumerate(QUESTIONS):
            prompt = [{"role": "user", "content": q.format(t=task)}]
            tiers = responses(task, steps)
            rng.shuffle(tiers)
            prompts.append({"prompt": prompt, "candidates": [r for _, r in tiers], "quality": [q for q, _ in tiers]})
    rng.shuffle(prompts)
    return prompts

def vocab_for(texts, specials):
    words = sorted({w for t in texts for w in tokenize(t)})
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = list(specials)
    for w in words + letters + ["##" + l for l in letters]:
        if w not in vocab:
            vocab.append(w)
    return {w: i for i, w in enumerate(vocab)}

def tokenizer_json(vocab, specials, post):
    added = [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in specials]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                        "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": post,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]" if "[UNK]" in vocab else "<unk>",
                  "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
    }

def bert_post(vocab):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [vocab["[CLS]"]], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [vocab["[SEP]"]], "tokens": ["[SEP]"]}}}

def train_token_scores(prompts, vocab, epochs=300, lr=2.0, l2=1e-4):
    """Logistic regression on mean-pooled bag-of-tokens differences (Bradley-Terry on preference pairs)."""
    def bag(text):
        v = np.zeros(len(vocab))
        toks = ["[CLS]"] + tokenize(text) + ["[SEP]"]
        for w in toks:
            v[vocab.get(w, vocab["[UNK]"])] += 1
        return v / len(toks)
    xs = []
    for p in prompts:
        bags = [bag(plain_format(p["prompt"], c)) for c in p["candidates"]]
        for i in range(len(bags)):
            for j in range(len(bags)):
                if p["quality"][i] > p["quality"][j]:
                    xs.append(bags[i] - bags[j])
    X = np.array(xs)
    u = np.zeros(len(vocab))
    for _ in range(epochs):
        z = X @ u
        g = X.T @ (1 / (1 + np.exp(z))) / len(X) - l2 * u
        u += lr * g
    acc = float(((X @ u) > 0).mean())
    return u, acc

def save(model_dir, graph, config, tok, tok_config):
    os.makedirs(model_dir, exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="alignloop-fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(model_dir, "model.onnx"))
    for name, obj in (("config.json", config), ("tokenizer.json", tok), ("tokenizer_config.json", tok_config)):
        with open(os.path.join(model_dir, name), "w") as f:
            json.dump(obj, f, indent=1 if name != "tokenizer.json" else None, sort_keys=False)
            f.write("\n")

def f32(a):
    return np.asarray(a, dtype=np.float32)

def masked_mean_nodes():
    return [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"], axis=0),                  # [B,L,d]
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),     # [B,L]
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),                      # [B,L,1]
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),        # [B,d]
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),          # [B,1]
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["pooled"]),
    ]

def build_bt_model(prompts, out_dir):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    texts = [plain_format(p["prompt"], c) for p in prompts for c in p["candidates"]]
    vocab = vocab_for(texts, specials)
    u, acc = train_token_scores(prompts, vocab)
    d = 8
    emb = np_rng.normal(0, 0.1, (len(vocab), d))
    emb[:, 0] = u
    w = np.zeros((2, d))
    w[1, 0] = 1.0
    w[0, 1:] = np_rng.normal(0, 0.5, d - 1)
    b = np.array([0.0, 0.0])
    nodes = masked_mean_nodes() + [helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "bt_reward_model",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(f32(emb), "emb"), numpy_helper.from_array(f32(w), "w"), numpy_helper.from_array(f32(b), "b"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"), numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
         numpy_helper.from_array(f32([1.0]), "one")])
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "num_labels": 2,
              "id2label": {"0": "rejected", "1": "chosen"}, "label2id": {"rejected": 0, "chosen": 1}, "pad_token_id": vocab["[PAD]"]}
    tok_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "pad_token": "[PAD]", "unk_token": "[UNK]",
                  "cls_token": "[CLS]", "sep_token": "[SEP]", "model_max_length": 512}
    save(out_dir, graph, config, tokenizer_json(vocab, specials, bert_post(vocab)), tok_config)
    return acc, len(vocab)

DECODER_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }}{{ eos_token }}"
                    "{% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}")

def build_decoder_model(prompts, out_dir):
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    texts = [p["prompt"][0]["content"] + " " + c for p in prompts for c in p["candidates"]]
    vocab = vocab_for(texts, specials)
    d = 6
    emb = np_rng.normal(0, 1.0, (len(vocab), d))
    w = f32(np_rng.normal(0, 1.0, (1, d)))
    pad_id = vocab["<pad>"]
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"], axis=0),                 # [B,L,d]
        helper.make_node("CumSum", ["tok", "axis1s"], ["csum"]),                          # causal running sum
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Gather", ["shape", "idx1"], ["seqlen"], axis=0),                 # scalar L
        helper.make_node("Add", ["seqlen", "one_i"], ["seqlen_p1"]),
        helper.make_node("Range", ["one_i", "seqlen_p1", "one_i"], ["pos"]),              # 1..L
        helper.make_node("Cast", ["pos"], ["posf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["posf", "pos_shape"], ["pos3"]),                      # [1,L,1]
        helper.make_node("Div", ["csum", "pos3"], ["cmean"]),
        helper.make_node("Tanh", ["cmean"], ["hidden"]),                                   # [B,L,d]
        # HF: sequence_lengths = argmax(input_ids == pad_token_id) - 1, modulo L (no pad -> last token)
        helper.make_node("Equal", ["input_ids", "pad_id"], ["is_pad"]),
        helper.make_node("Cast", ["is_pad"], ["is_pad_i"], to=TensorProto.INT32),
        helper.make_node("ArgMax", ["is_pad_i"], ["first_pad"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Sub", ["first_pad", "one_i"], ["last_m1"]),
        helper.make_node("Mod", ["last_m1", "seqlen"], ["last_idx"]),
        helper.make_node("OneHot", ["last_idx", "seqlen", "onehot_vals"], ["sel"], axis=-1),  # [B,L]
        helper.make_node("Unsqueeze", ["sel", "axis1s"], ["sel3"]),                          # [B,1,L]
        helper.make_node("MatMul", ["sel3", "hidden"], ["picked3"]),                        # [B,1,d]
        helper.make_node("Squeeze", ["picked3", "axis1s"], ["picked"]),
        helper.make_node("Gemm", ["picked", "w", "b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "decoder_reward_model",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(f32(emb), "emb"), numpy_helper.from_array(w, "w"), numpy_helper.from_array(f32([0.0]), "b"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1s"), numpy_helper.from_array(np.array([1], dtype=np.int64), "idx1"),
         numpy_helper.from_array(np.array(1, dtype=np.int64), "one_i"), numpy_helper.from_array(np.array([1, -1, 1], dtype=np.int64), "pos_shape"),
         numpy_helper.from_array(np.array(pad_id, dtype=np.int64), "pad_id"), numpy_helper.from_array(f32([0.0, 1.0]), "onehot_vals")])
    # attention_mask is an input (as exported decoders have) but unused: pooling relies on pad_token_id.
    config = {"architectures": ["LlamaForSequenceClassification"], "model_type": "llama", "num_labels": 1, "pad_token_id": pad_id}
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": None, "chat_template": DECODER_TEMPLATE, "model_max_length": 2048}
    save(out_dir, graph, config, tokenizer_json(vocab, specials, None), tok_config)

def build_tt_model(prompts, out_dir):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    texts = [plain_format(p["prompt"], c) for p in prompts[:40] for c in p["candidates"]]
    vocab = vocab_for(texts, specials)
    d = 4
    emb = f32(np_rng.normal(0, 1.0, (len(vocab), d)))
    type_emb = f32(np_rng.normal(0, 1.0, (2, d)))
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok0"], axis=0),
        helper.make_node("Gather", ["type_emb", "token_type_ids"], ["typ"], axis=0),
        helper.make_node("Add", ["tok0", "typ"], ["tok"]),
    ] + masked_mean_nodes()[1:] + [helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "tt_reward_model",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(type_emb, "type_emb"),
         numpy_helper.from_array(f32(np_rng.normal(0, 1.0, (1, d))), "w"), numpy_helper.from_array(f32([0.5]), "b"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"), numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
         numpy_helper.from_array(f32([1.0]), "one")])
    config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "num_labels": 1, "pad_token_id": 0}
    tok_config = {"tokenizer_class": "BertTokenizer", "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    save(out_dir, graph, config, tokenizer_json(vocab, specials, bert_post(vocab)), tok_config)

def build_no_logits_model(out_dir):
    """A graph whose only output is not called logits: alignloop must refuse it with a clear error."""
    nodes = [helper.make_node("Cast", ["input_ids"], ["scores"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "no_logits",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "seq"])])
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = vocab_for(["hello world"], specials)
    save(out_dir, graph, {"num_labels": 1, "pad_token_id": 0}, tokenizer_json(vocab, specials, bert_post(vocab)), {"pad_token": "[PAD]"})

def build_bench_model(out_dir, src_dir, d=256, hidden=1024, layers=4):
    """Compute-realistic model for bench:score: per-token residual MLPs whose weights are generated
    in the graph (sin of a ramp), so the file stays small and ORT constant-folds them at load."""
    with open(os.path.join(src_dir, "tokenizer.json")) as f:
        tok = json.load(f)
    with open(os.path.join(src_dir, "tokenizer_config.json")) as f:
        tok_config = json.load(f)
    vocab_size = len(tok["model"]["vocab"])
    emb = f32(np_rng.normal(0, 0.5, (vocab_size, d)))
    inits = [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
             numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"), numpy_helper.from_array(f32([1.0]), "one"),
             numpy_helper.from_array(f32(np_rng.normal(0, 0.3, (2, d))), "w"), numpy_helper.from_array(f32([0.0, 0.0]), "b"),
             numpy_helper.from_array(f32(0.0), "zero_f"), numpy_helper.from_array(f32(1.0), "one_f")]
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["h0"], axis=0)]
    prev = "h0"
    for l in range(layers):
        for name, shape in ((f"w1_{l}", (d, hidden)), (f"w2_{l}", (hidden, d))):
            n = shape[0] * shape[1]
            inits += [numpy_helper.from_array(f32(float(n)), f"{name}_n"), numpy_helper.from_array(np.array(shape, dtype=np.int64), f"{name}_shape"),
                      numpy_helper.from_array(f32(0.37 + 0.11 * l + (0.05 if name.startswith("w2") else 0.0)), f"{name}_k"),
                      numpy_helper.from_array(f32(1.0 / np.sqrt(shape[0])), f"{name}_s")]
            nodes += [helper.make_node("Range", ["zero_f", f"{name}_n", "one_f"], [f"{name}_r"]),
                      helper.make_node("Mul", [f"{name}_r", f"{name}_k"], [f"{name}_rk"]),
                      helper.make_node("Sin", [f"{name}_rk"], [f"{name}_sin"]),
                      helper.make_node("Mul", [f"{name}_sin", f"{name}_s"], [f"{name}_flat"]),
                      helper.make_node("Reshape", [f"{name}_flat", f"{name}_shape"], [name])]
        nodes += [helper.make_node("MatMul", [prev, f"w1_{l}"], [f"a{l}"]), helper.make_node("Relu", [f"a{l}"], [f"r{l}"]),
                  helper.make_node("MatMul", [f"r{l}", f"w2_{l}"], [f"m{l}"]), helper.make_node("Add", [prev, f"m{l}"], [f"h{l + 1}"])]
        prev = f"h{l + 1}"
    nodes += [helper.make_node("Identity", [prev], ["tok"])] + masked_mean_nodes()[1:] + [helper.make_node("Gemm", ["pooled", "w", "b"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "bench_reward_model",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], inits)
    save(out_dir, graph, {"num_labels": 2, "pad_token_id": 0}, tok, tok_config)

def copy_tokenizer(src_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(src_dir, name), "rb") as f, open(os.path.join(out_dir, name), "wb") as g:
            g.write(f.read())

def build_decoder_variants(src_dir):
    """Variants of decoder-rm with the same weights, so their rewards must match decoder-rm's."""
    fixtures = os.path.dirname(src_dir)
    # int32 inputs and float16 logits (a cast at each end of the graph).
    m = onnx.load(os.path.join(src_dir, "model.onnx"))
    g = m.graph
    for inp in g.input:
        inp.type.tensor_type.elem_type = TensorProto.INT32
    for n in g.node:
        n.input[:] = ["input_ids_i64" if x == "input_ids" else x for x in n.input]
        n.output[:] = ["logits_f32" if x == "logits" else x for x in n.output]
    g.node.insert(0, helper.make_node("Cast", ["input_ids"], ["input_ids_i64"], to=TensorProto.INT64))
    g.node.append(helper.make_node("Cast", ["logits_f32"], ["logits"], to=TensorProto.FLOAT16))
    g.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m)
    out = os.path.join(fixtures, "decoder-fp16-int32")
    copy_tokenizer(src_dir, out)
    onnx.save(m, os.path.join(out, "model.onnx"))
    # Exported with the KV cache: past_key_values inputs alignloop cannot supply.
    m = onnx.load(os.path.join(src_dir, "model.onnx"))
    m.graph.input.append(helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, ["batch", 1, "past", 2]))
    onnx.checker.check_model(m)
    out = os.path.join(fixtures, "decoder-past")
    copy_tokenizer(src_dir, out)
    onnx.save(m, os.path.join(out, "model.onnx"))

def main():
    import sys
    if sys.argv[1:] == ["variants"]:
        build_decoder_variants(os.path.join(ROOT, "test", "fixtures", "models", "decoder-rm"))
        print("wrote test/fixtures/models/decoder-fp16-int32, decoder-past")
        return
    prompts = build_quickstart()
    qs = os.path.join(ROOT, "examples", "quickstart")
    os.makedirs(qs, exist_ok=True)
    with open(os.path.join(qs, "prompts.jsonl"), "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p["prompt"], "candidates": p["candidates"]}) + "\n")
    acc, v = build_bt_model(prompts, os.path.join(qs, "reward-model"))
    print(f"quickstart: {len(prompts)} prompts x {len(prompts[0]['candidates'])} candidates; reward model vocab {v}, pairwise train accuracy {acc:.3f}")
    build_decoder_model(prompts, os.path.join(ROOT, "test", "fixtures", "models", "decoder-rm"))
    build_tt_model(prompts, os.path.join(ROOT, "test", "fixtures", "models", "encoder-tt"))
    build_no_logits_model(os.path.join(ROOT, "test", "fixtures", "models", "no-logits"))
    build_bench_model(os.path.join(ROOT, "test", "fixtures", "models", "bench-rm"), os.path.join(qs, "reward-model"))
    build_decoder_variants(os.path.join(ROOT, "test", "fixtures", "models", "decoder-rm"))
    print("wrote test/fixtures/models/decoder-rm, encoder-tt, no-logits")

if __name__ == "__main__":
    main()
