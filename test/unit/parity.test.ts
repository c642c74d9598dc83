/**
 * Parity with what transformers does: chat templates rendered by Python's Jinja2 (as
 * apply_chat_template configures it) and token ids from HF `tokenizers`, on a corpus with empty
 * turns, odd whitespace, a BOM, U+0085, emoji, CJK, RTL, Greek capitals (final sigma) and combining
 * marks. The expected outputs come from scripts/build_parity.py (committed, never rebuilt here).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chatTemplate, hfTokenizer } from '../../activities/score/render';
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
  const { encode } = hfTokenizer(read(path.join(kind, 'tokenizer.json')), {});
  const mine = read<{ tokenizer: string; text: string; ids: number[] }[]>('token-cases.json').filter((c) => c.tokenizer === kind);
  test(`${mine.length} texts`, () => {
    const wrong = mine
      .filter((c) => JSON.stringify(encode(c.text, false)) !== JSON.stringify(c.ids))
      .map((c) => `${JSON.stringify(c.text)}: ${JSON.stringify(encode(c.text, false))} != ${JSON.stringify(c.ids)}`);
    expect(wrong).toEqual([]);
  });
});

describe.each(['wordpiece-whitespace', 'unigram-strip', 'bytelevel-gpt2', 'deberta-v3'])(
  'tokenizer %s (Unicode \\w, White_Space, Strip, Precompiled) gives the ids HF tokenizers gives',
  (kind) => {
    type Case = { tokenizer: string; text?: string; pair?: [string, string]; ids: number[]; type_ids?: number[] };
    const json = read<Record<string, unknown>>(path.join('more-tokenizers', kind, 'tokenizer.json'));
    const cases = read<Case[]>(path.join('more-tokenizers', 'more-token-cases.json')).filter((c) => c.tokenizer === kind);
    test(`${cases.filter((c) => c.text !== undefined).length} texts alone`, () => {
      const { encode } = hfTokenizer(json, {});
      const wrong = cases
        .filter((c) => c.text !== undefined && JSON.stringify(encode(c.text, false)) !== JSON.stringify(c.ids))
        .map((c) => `${JSON.stringify(c.text)}: ${JSON.stringify(encode(c.text!, false))} != ${JSON.stringify(c.ids)}`);
      expect(wrong).toEqual([]);
    });
    const pairs = cases.filter((c) => c.pair);
    if (pairs.length > 0)
      test(`${pairs.length} (question, text) pairs, with segment ids`, () => {
        const encode = hfTokenizer(json, {}).encodePair;
        const wrong = pairs
          .map((c) => ({ c, got: encode(c.pair![0], c.pair![1]) }))
          .filter(({ c, got }) => JSON.stringify(got) !== JSON.stringify({ ids: c.ids, typeIds: c.type_ids }))
          .map(({ c, got }) => `${JSON.stringify(c.pair)}: ${JSON.stringify(got)} != ${JSON.stringify({ ids: c.ids, typeIds: c.type_ids })}`);
        expect(wrong).toEqual([]);
      });
  },
);
