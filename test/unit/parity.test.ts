/**
 * Parity with what transformers does: chat templates rendered by Python's Jinja2 (as
 * apply_chat_template configures it) and token ids from HF `tokenizers`, on a corpus with empty
 * turns, odd whitespace, a BOM, U+0085, emoji, CJK, RTL, Greek capitals (final sigma) and combining
 * marks. The expected outputs come from scripts/build_parity.py (committed, never rebuilt here).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chatTemplate, hfEncoder } from '../../activities/score/render';
import { ROOT } from '../helpers/paths';

const DIR = path.join(ROOT, 'test', 'fixtures', 'parity');
const read = <T>(f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as T;

interface RenderCase {
  template: string;
  messages: { role: string; content: string }[];
  add_generation_prompt: boolean;
  expected?: string;
  error?: string;
}

const templates = read<Record<string, string>>('templates.json');
const cases = read<RenderCase[]>('render-cases.json');

describe.each(Object.keys(templates))('chat template %s renders exactly as Python Jinja2 does', (name) => {
  const render = chatTemplate(templates[name]);
  const mine = cases.filter((c) => c.template === name);
  test(`${mine.length} conversations`, () => {
    const wrong: string[] = [];
    for (const c of mine) {
      const ctx = { messages: c.messages, bos_token: '<s>', eos_token: '</s>', add_generation_prompt: c.add_generation_prompt };
      if (c.error !== undefined) {
        expect(() => render(ctx)).toThrow(c.error);
        continue;
      }
      const got = render(ctx);
      if (got !== c.expected)
        wrong.push(`${JSON.stringify(c.messages)} gen=${c.add_generation_prompt}:\n  python ${JSON.stringify(c.expected)}\n  ours   ${JSON.stringify(got)}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe.each(['bert-lower', 'bytelevel'])('tokenizer %s gives the token ids HF tokenizers gives', (kind) => {
  const encode = hfEncoder(read(path.join(kind, 'tokenizer.json')), {});
  const mine = read<{ tokenizer: string; text: string; ids: number[] }[]>('token-cases.json').filter((c) => c.tokenizer === kind);
  test(`${mine.length} texts`, () => {
    const wrong = mine
      .filter((c) => JSON.stringify(encode(c.text, false)) !== JSON.stringify(c.ids))
      .map((c) => `${JSON.stringify(c.text)}: ${JSON.stringify(encode(c.text, false))} != ${JSON.stringify(c.ids)}`);
    expect(wrong).toEqual([]);
  });
});
