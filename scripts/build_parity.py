#!/usr/bin/env python3
"""Build the chat-template and tokenizer parity fixtures (outputs committed; tests never rebuild them).

    pip install jinja2 tokenizers && python3 scripts/build_parity.py

Renders a corpus of conversations through chat templates of common model families with Python's
Jinja2 configured as transformers' apply_chat_template configures it (sandboxed, trim_blocks,
lstrip_blocks, loop controls, raise_exception, tojson), and tokenizes a corpus of texts with HF
`tokenizers` (a lowercasing BERT WordPiece and a byte-level BPE, trained here on the corpus).
test/unit/parity.test.ts compares alignloop's rendering and token ids with these, exactly.

The templates are written from the model families' published chat templates (Llama 2, Llama 3,
Mistral, Qwen/ChatML, Gemma, Phi-3, Zephyr), reduced to the parts that shape the text.
"""
import json
import os

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers, decoders

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "parity")

TEMPLATES = {
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "chatml": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
    "phi3": "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}",
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
}

TEXTS = [
    "How do I bake bread at home?",
    "  leading and trailing spaces  ",
    "\ufeffa byte-order mark first",
    "ends with a next-line\x85",
    "tabs\tand\nnewlines\r\nmixed",
    "emoji 🙂👍🏽 and a flag 🇫🇷",
    "中文问题：怎么学习编程？",
    "日本語のテキストとカタカナ",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "ΟΔΟΣ ΚΑΙ ΛΟΓΟΣ: Σίσυφος σοφός",
    "combining: e\u0301 vs \u00e9, a\u0308",
    "Ångström café NAÏVE façade",
    "code: `print('hi')` and <tags>",
    "",
]

def conversations():
    convs = []
    for t in TEXTS[:-1]:
        convs.append([{"role": "user", "content": t}])
        convs.append([{"role": "user", "content": "Question:"}, {"role": "assistant", "content": t}])
    convs.append([{"role": "system", "content": ""}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    convs.append([{"role": "system", "content": "Be brief."}, {"role": "user", "content": " spaced "}, {"role": "assistant", "content": "\ufeffok\x85"}])
    convs.append([{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}])
    convs.append([{"role": "assistant", "content": "I speak first"}])
    convs.append([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
    return convs

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def render_cases():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    cases = []
    for name, src in TEMPLATES.items():
        tpl = env.from_string(src)
        for conv in conversations():
            for gen in (False, True):
                try:
                    out = tpl.render(messages=conv, bos_token="<s>", eos_token="</s>", add_generation_prompt=gen)
                    cases.append({"template": name, "messages": conv, "add_generation_prompt": gen, "expected": out})
                except jinja2.exceptions.TemplateError as e:
                    cases.append({"template": name, "messages": conv, "add_generation_prompt": gen, "error": str(e)})
    return cases

def train(kind):
    corpus = TEXTS * 20 + [" ".join(TEXTS)] * 5
    if kind == "bert-lower":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    else:
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    return tok

def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "templates.json"), "w") as f:
        json.dump(TEMPLATES, f, indent=1, ensure_ascii=False)
    cases = render_cases()
    with open(os.path.join(OUT, "render-cases.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
    token_cases = []
    for kind in ("bert-lower", "bytelevel"):
        tok = train(kind)
        d = os.path.join(OUT, kind)
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        texts = TEXTS + [c["expected"] for c in cases if "expected" in c and c["template"] in ("llama3", "chatml")][:40]
        for t in texts:
            token_cases.append({"tokenizer": kind, "text": t, "ids": tok.encode(t, add_special_tokens=False).ids})
    with open(os.path.join(OUT, "token-cases.json"), "w") as f:
        json.dump(token_cases, f, indent=1, ensure_ascii=False)
    print(f"wrote {len(cases)} render cases and {len(token_cases)} token cases to {OUT}")

if __name__ == "__main__":
    main()
