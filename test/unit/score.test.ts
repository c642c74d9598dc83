import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scoreFile } from '../../activities/score/score-file';
import { closeCachedSessions } from '../../activities/score/ort-session';
import { RewardScorer } from '../../activities/score/scorer';
import { CLI, MODELS, quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';
import { ModelFolderError } from '../../config/errors';

jest.setTimeout(60000);
afterAll(closeCachedSessions);

async function scoresOf(scorer: RewardScorer, items: { prompt: never; output: string }[]): Promise<number[]> {
  const enc = items.map((it) => scorer.encode({ prompt: it.prompt, response: it.output }));
  const out = new Array(items.length);
  for (const batch of scorer.plan(enc)) (await scorer.runBatch(enc, batch)).forEach((v, k) => (out[batch[k]] = v));
  return out;
}

describe.each([
  ['Bradley-Terry encoder', MODELS.bt],
  ['decoder pooling the last non-pad token', MODELS.decoder],
  ['encoder with token_type_ids', MODELS.tokenTypes],
])('%s', (_name, dir) => {
  test('a score does not depend on batch composition or padding', async () => {
    const items = quickstartSamples(3) as never[];
    const alone = await RewardScorer.open({ modelDir: dir, batchTokens: 1, threads: 1 });
    const batched = await RewardScorer.open({ modelDir: dir, batchTokens: 100000, threads: 1 });
    const a = await scoresOf(alone, items);
    const b = await scoresOf(batched, items);
    expect(new Set(a.map((x) => x.toFixed(4))).size).toBeGreaterThan(5);
    a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-5));
  });
});

test('reward index: BT heads (num_labels 2) use logit 1 by default, overridable', async () => {
  const items = quickstartSamples(1) as never[];
  const def = await scoresOf(await RewardScorer.open({ modelDir: MODELS.bt }), items);
  const one = await scoresOf(await RewardScorer.open({ modelDir: MODELS.bt, rewardIndex: 1 }), items);
  const zero = await scoresOf(await RewardScorer.open({ modelDir: MODELS.bt, rewardIndex: 0 }), items);
  expect(def).toEqual(one);
  expect(def).not.toEqual(zero);
  await expect(scoresOf(await RewardScorer.open({ modelDir: MODELS.decoder, rewardIndex: 1 }), items)).rejects.toThrow(/reward index 1 is out of range/);
});

test('the quickstart reward model ranks good answers above bad ones', async () => {
  const items = quickstartSamples(20) as { output: string }[];
  const s = await scoresOf(await RewardScorer.open({ modelDir: MODELS.bt }), items as never[]);
  const mean = (re: RegExp) => {
    const v = s.filter((_, i) => re.test(items[i].output));
    return v.reduce((a, b) => a + b, 0) / v.length;
  };
  expect(mean(/^Here is a clear plan/)).toBeGreaterThan(mean(/^You should/) + 0.3);
  expect(mean(/^You should/)).toBeGreaterThan(mean(/Figure it out yourself/) + 0.3);
});

describe('truncation', () => {
  test('keeps the end of the response and drops prompt tokens from the left first', async () => {
    const scorer = await RewardScorer.open({ modelDir: MODELS.decoder, maxLength: 24 });
    const prompt = [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve' }] as never;
    const response = 'first read the job description then match your skills';
    const full = (await RewardScorer.open({ modelDir: MODELS.decoder, maxLength: 2048 })).encode({ prompt, response });
    const cut = scorer.encode({ prompt, response });
    expect(full.truncated).toBe(false);
    expect(cut.truncated).toBe(true);
    expect(cut.ids).toHaveLength(24);
    // the whole response and its closing tokens survive
    expect(cut.ids.slice(-12)).toEqual(full.ids.slice(-12));
    // the first kept prompt token comes from the right end of the prompt
    expect(cut.ids[0]).toBe(full.ids[0]); // BOS kept
    const long = scorer.encode({ prompt, response: 'skills '.repeat(60) + 'finally keep it to one page' });
    const dec = long.ids.slice(-8);
    const tail = (await RewardScorer.open({ modelDir: MODELS.decoder, maxLength: 4096 })).encode({
      prompt,
      response: 'skills '.repeat(60) + 'finally keep it to one page',
    });
    expect(dec).toEqual(tail.ids.slice(-8));
  });
});

describe('scoreFile', () => {
  test('non-finite handling, input order kept, clear errors for bad records', async () => {
    const dir = tmpDir();
    const input = path.join(dir, 'in.jsonl');
    writeJsonl(input, quickstartSamples(2));
    const scorer = await RewardScorer.open({ modelDir: MODELS.bt, batchTokens: 64 });
    const r = await scoreFile(scorer, input, path.join(dir, 'out.jsonl'));
    const out = fs
      .readFileSync(path.join(dir, 'out.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out.map((o) => [o.prompt_id, o.sample_id])).toEqual(quickstartSamples(2).map((o) => [o.prompt_id, o.sample_id]));
    expect(r.batches).toBeGreaterThan(3);
    expect(out.every((o) => o.label_status === 'ok' && typeof o.reward === 'number')).toBe(true);
    expect(fs.existsSync(path.join(dir, 'out.jsonl.progress'))).toBe(false);

    fs.writeFileSync(input, '{"prompt_id":"p","output":"x"}\n');
    await expect(scoreFile(scorer, input, path.join(dir, 'o2.jsonl'))).rejects.toThrow(/in\.jsonl:1: missing prompt/);
    fs.writeFileSync(input, '{"prompt_id":"p","prompt":[{"role":"user","content":"q"}]}\n');
    await expect(scoreFile(scorer, input, path.join(dir, 'o2.jsonl'))).rejects.toThrow(/in\.jsonl:1: missing output/);
    expect(fs.existsSync(path.join(dir, 'o2.jsonl'))).toBe(false);
  });

  test('a progress file is reused only for a batch of exactly the same records under the same plan', async () => {
    const dir = tmpDir();
    const input = path.join(dir, 'in.jsonl');
    writeJsonl(input, quickstartSamples(8));
    const scorer = await RewardScorer.open({ modelDir: MODELS.bt, batchTokens: 256 });
    const out = path.join(dir, 'out.jsonl');
    const progress = `${out}.progress`;
    await expect(
      scoreFile(scorer, input, out, (p) => {
        if (p.batchesDone === 3) throw new Error('stop here');
      }),
    ).rejects.toThrow('stop here');
    const [header, first, ...rest] = fs
      .readFileSync(progress, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(first.items.length).toBeGreaterThan(1);
    expect(rest.length).toBeGreaterThanOrEqual(2);
    const marked = { ...first, rewards: first.items.map(() => 1234.5) };
    const rescore = async (lines: unknown[]) => {
      fs.writeFileSync(progress, lines.map((l) => JSON.stringify(l) + '\n').join(''));
      await scoreFile(scorer, input, out);
      return fs
        .readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).reward as number);
    };
    // Reused: the marked rewards land on exactly the batch's records.
    const reused = await rescore([header, marked]);
    expect(reused.flatMap((v, i) => (v === 1234.5 ? [i] : []))).toEqual([...first.items].sort((a, b) => a - b));
    // Not reused: the same batch number over other records, or another batch budget's plan.
    expect(await rescore([header, { ...marked, items: [...first.items].reverse() }])).not.toContain(1234.5);
    expect(await rescore([{ ...header, batchTokens: 512 }, marked])).not.toContain(1234.5);
  });
});

describe('model folder errors', () => {
  const copy = (src: string, edit: (dir: string) => void) => {
    const dir = tmpDir();
    fs.cpSync(src, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  test('missing files', async () => {
    await expect(RewardScorer.open({ modelDir: '/nonexistent/model' })).rejects.toThrow(/model folder not found/);
    await expect(RewardScorer.open({ modelDir: copy(MODELS.bt, (d) => fs.rmSync(path.join(d, 'model.onnx'))) })).rejects.toThrow(/missing model\.onnx/);
    await expect(RewardScorer.open({ modelDir: copy(MODELS.bt, (d) => fs.rmSync(path.join(d, 'tokenizer.json'))) })).rejects.toThrow(/missing tokenizer\.json/);
  });
  test('no logits output', async () => {
    await expect(RewardScorer.open({ modelDir: MODELS.noLogits })).rejects.toThrow(/no output named "logits" \(outputs: scores\)/);
  });
  test('no pad token and no config fallback', async () => {
    const dir = copy(MODELS.decoder, (d) => {
      const c = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
      delete c.pad_token_id;
      fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(c));
    });
    await expect(RewardScorer.open({ modelDir: dir })).rejects.toThrow(ModelFolderError);
    await expect(RewardScorer.open({ modelDir: dir })).rejects.toThrow(/no pad token.*set pad_token_id/);
  });
  test('the CLI prints one line and exits 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'score', '--model', MODELS.noLogits, '--in', 'x', '--out', 'y'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^alignloop: .*no output named "logits"/);
  });
});

test('SIGKILL during alignloop score: the rerun resumes from persisted batches and equals an uninterrupted run', async () => {
  const dir = tmpDir();
  const input = path.join(dir, 'in.jsonl');
  writeJsonl(input, quickstartSamples(240, 4)); // 9,600 items
  const args = (out: string) => [CLI, 'score', '--model', MODELS.decoder, '--in', input, '--out', out, '--batch-tokens', '256', '--threads', '1'];
  const ref = spawnSync(process.execPath, args(path.join(dir, 'ref.jsonl')), { encoding: 'utf8' });
  expect(ref.status).toBe(0);

  const out = path.join(dir, 'out.jsonl');
  const child = spawn(process.execPath, args(out), { stdio: 'ignore' });
  const progress = `${out}.progress`;
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      const n = fs.existsSync(progress) ? fs.readFileSync(progress, 'utf8').split('\n').length - 1 : 0;
      if (n >= 20) {
        clearInterval(t);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
    child.on('exit', () => {
      clearInterval(t);
      reject(new Error('scorer finished before it could be killed'));
    });
  });
  await new Promise((r) => child.on('close', r));
  expect(fs.existsSync(out)).toBe(false);
  const before = fs
    .readFileSync(progress, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{')).length;
  // The same progress under another batch budget plans other batches: it must be ignored, not misapplied.
  const other = path.join(dir, 'other.jsonl');
  fs.copyFileSync(progress, `${other}.progress`);
  const rerun = spawnSync(process.execPath, args(out), { encoding: 'utf8' });
  expect(rerun.status).toBe(0);
  const resumed = Number(/\((\d+) resumed from progress\)/.exec(rerun.stdout)?.[1]);
  expect(resumed).toBeGreaterThanOrEqual(before - 1);
  expect(fs.readFileSync(out)).toEqual(fs.readFileSync(path.join(dir, 'ref.jsonl')));

  const replanned = spawnSync(process.execPath, [...args(other).slice(0, -4), '--batch-tokens', '512', '--threads', '1'], { encoding: 'utf8' });
  expect(replanned.status).toBe(0);
  expect(replanned.stdout).not.toMatch(/resumed from progress/);
  const rewards = (f: string) =>
    fs
      .readFileSync(f, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).reward as number);
  const want = rewards(path.join(dir, 'ref.jsonl'));
  rewards(other).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-4));
});

/** A copy of a fixture model folder, edited by `edit`, for layout and configuration variants. */
function variant(src: string, edit: (dir: string) => void): string {
  const dir = path.join(tmpDir('alignloop-rm-'), path.basename(src));
  fs.cpSync(src, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editJson = (file: string, f: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  f(j);
  fs.writeFileSync(file, JSON.stringify(j));
};

describe('reward models as people export them', () => {
  const items = () => quickstartSamples(2) as never[];

  test('int32 inputs and float16 logits: the same rewards as the float32/int64 export (fp16 bits decoded, not read as float32)', async () => {
    const ref = await scoresOf(await RewardScorer.open({ modelDir: MODELS.decoder, threads: 1 }), items());
    const half = await scoresOf(await RewardScorer.open({ modelDir: path.join(path.dirname(MODELS.decoder), 'decoder-fp16-int32'), threads: 1 }), items());
    expect(new Set(ref.map((x) => x.toFixed(3))).size).toBeGreaterThan(5);
    ref.forEach((x, i) => expect(Math.abs(x - half[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(x))));
  });

  test('a graph exported with the KV cache is refused at open, saying how to re-export', async () => {
    await expect(RewardScorer.open({ modelDir: path.join(path.dirname(MODELS.decoder), 'decoder-past') })).rejects.toThrow(
      /exported with the KV cache \(inputs past_key_values.0.key\).*without past/,
    );
  });

  test("optimum's onnx/model.onnx, another file name, or several graphs (then labeler.modelFile names one)", async () => {
    const ref = await scoresOf(await RewardScorer.open({ modelDir: MODELS.decoder, threads: 1 }), items());
    const sub = variant(MODELS.decoder, (d) => {
      fs.mkdirSync(path.join(d, 'onnx'));
      fs.renameSync(path.join(d, 'model.onnx'), path.join(d, 'onnx', 'model.onnx'));
    });
    expect(await scoresOf(await RewardScorer.open({ modelDir: sub, threads: 1 }), items())).toEqual(ref);
    const renamed = variant(MODELS.decoder, (d) => fs.renameSync(path.join(d, 'model.onnx'), path.join(d, 'model_quantized.onnx')));
    expect(await scoresOf(await RewardScorer.open({ modelDir: renamed, threads: 1 }), items())).toEqual(ref);
    const several = variant(MODELS.decoder, (d) => {
      fs.copyFileSync(path.join(d, 'model.onnx'), path.join(d, 'model_fp16.onnx'));
      fs.renameSync(path.join(d, 'model.onnx'), path.join(d, 'decoder_model.onnx'));
    });
    await expect(RewardScorer.open({ modelDir: several })).rejects.toThrow(/several ONNX graphs \(decoder_model.onnx, model_fp16.onnx\).*labeler.modelFile/);
    expect(await scoresOf(await RewardScorer.open({ modelDir: several, modelFile: 'decoder_model.onnx', threads: 1 }), items())).toEqual(ref);
  });

  test('chat_template.jinja is used (as recent transformers save it); from a list of named templates, "default"', async () => {
    const prompt = [{ role: 'user', content: 'hello' }] as never;
    const jinja = variant(MODELS.decoder, (d) => fs.writeFileSync(path.join(d, 'chat_template.jinja'), 'JINJA {{ messages[0].content }}'));
    const s1 = await RewardScorer.open({ modelDir: jinja });
    expect(s1.encoder.render(prompt, 'x')).toBe('JINJA hello');
    const named = variant(MODELS.decoder, (d) =>
      editJson(path.join(d, 'tokenizer_config.json'), (j) => {
        j.chat_template = [
          { name: 'tool_use', template: 'TOOLS' },
          { name: 'default', template: 'DEFAULT {{ messages[0].content }}' },
        ];
      }),
    );
    expect((await RewardScorer.open({ modelDir: named })).encoder.render(prompt, 'x')).toBe('DEFAULT hello');
    const noDefault = variant(MODELS.decoder, (d) =>
      editJson(path.join(d, 'tokenizer_config.json'), (j) => {
        j.chat_template = [
          { name: 'a', template: 'A' },
          { name: 'b', template: 'B' },
        ];
      }),
    );
    await expect(RewardScorer.open({ modelDir: noDefault })).rejects.toThrow(/list of named templates \(a, b\) without a "default".*labeler.chatTemplate/);
    // labeler.chatTemplate / --chat-template: a name, default, or a .jinja file.
    expect((await RewardScorer.open({ modelDir: noDefault, chatTemplate: 'b' })).encoder.render(prompt, 'x')).toBe('B');
    expect((await RewardScorer.open({ modelDir: named, chatTemplate: 'tool_use' })).encoder.render(prompt, 'x')).toBe('TOOLS');
    expect((await RewardScorer.open({ modelDir: named, chatTemplate: 'default' })).encoder.render(prompt, 'x')).toBe('DEFAULT hello');
    const file = path.join(tmpDir(), 'mine.jinja');
    fs.writeFileSync(file, 'FILE {{ messages[1].content }}');
    expect((await RewardScorer.open({ modelDir: named, chatTemplate: file })).encoder.render(prompt, 'x')).toBe('FILE x');
    await expect(RewardScorer.open({ modelDir: named, chatTemplate: 'c' })).rejects.toThrow(
      /no chat template named "c" \(named templates: tool_use, default\)/,
    );
  });

  test("pad token disagreement: padding uses config.json's pad_token_id (the one the graph pools on), so batching changes nothing", async () => {
    const dir = variant(MODELS.decoder, (d) => editJson(path.join(d, 'tokenizer_config.json'), (j) => (j.pad_token = '<unk>')));
    const alone = await RewardScorer.open({ modelDir: dir, batchTokens: 1, threads: 1 });
    const batched = await RewardScorer.open({ modelDir: dir, batchTokens: 100000, threads: 1 });
    expect(batched.model.padNote).toMatch(/differs from config.json's pad_token_id/);
    const a = await scoresOf(alone, quickstartSamples(3) as never[]);
    const b = await scoresOf(batched, quickstartSamples(3) as never[]);
    a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-5));
  });

  test('max_position_embeddings caps the length; a longer labeler.maxLength is refused before ORT fails on it', async () => {
    const dir = variant(MODELS.decoder, (d) => editJson(path.join(d, 'config.json'), (j) => (j.max_position_embeddings = 16)));
    const s = await RewardScorer.open({ modelDir: dir });
    const long = s.encode({
      prompt: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }] as never,
      response: 'a b c d e f g h i j',
    });
    expect(long.ids.length).toBeLessThanOrEqual(16);
    expect(long.truncated).toBe(true);
    await expect(RewardScorer.open({ modelDir: dir, maxLength: 32 })).rejects.toThrow(/maxLength 32 is longer than the model's 16 positions/);
  });

  test('a record the chat template raises on is unlabelled with its line and reason; plain-string prompts are scored', async () => {
    const dir = variant(MODELS.decoder, (d) =>
      editJson(path.join(d, 'tokenizer_config.json'), (j) => {
        j.chat_template =
          "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.role }}: {{ m.content }}\n{% endfor %}";
      }),
    );
    const t = tmpDir();
    const good = quickstartSamples(1)[0] as { prompt: { content: string }[]; output: string };
    writeJsonl(path.join(t, 'in.jsonl'), [
      good,
      { prompt: [{ role: 'assistant', content: 'I speak first' }], output: 'x' },
      { prompt: good.prompt[0].content, output: good.output },
    ]);
    const r = await scoreFile(await RewardScorer.open({ modelDir: dir, threads: 1 }), path.join(t, 'in.jsonl'), path.join(t, 'out.jsonl'));
    expect(r).toMatchObject({ items: 3, labelled: 2, failed: { template_error: 1 } });
    const out = fs
      .readFileSync(path.join(t, 'out.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out[1]).toMatchObject({ reward: null, label_status: 'template_error' });
    expect(out[1].label_error).toMatch(/in.jsonl:2: the chat template or tokenizer failed on this record: .*roles must alternate/);
    expect(out[2].prompt).toEqual([{ role: 'user', content: good.prompt[0].content }]);
    expect(out[2].reward).toBeCloseTo(out[0].reward, 6);
  });
});

describe('tokenization threads', () => {
  test('the same ids, truncation and per-record template errors as the calling thread, in order', async () => {
    const items = [
      ...(quickstartSamples(30) as { prompt: never; output: string }[]).map((s) => ({ prompt: s.prompt, response: s.output })),
      { prompt: [{ role: 'assistant', content: 'no user turn' }] as never, response: 'x' },
    ];
    const dir = variant(MODELS.decoder, (d) =>
      editJson(path.join(d, 'tokenizer_config.json'), (j) => {
        j.chat_template =
          "{% for m in messages %}{% if loop.first and m['role'] != 'user' %}{{ raise_exception('first turn must be the user') }}{% endif %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
      }),
    );
    const alone = await RewardScorer.open({ modelDir: dir, tokenizerThreads: 0, maxLength: 40 });
    const pooled = await RewardScorer.open({ modelDir: dir, tokenizerThreads: 3, maxLength: 40 });
    const a = await alone.encodeMany(items);
    const b = await pooled.encodeMany(items);
    expect(b).toHaveLength(items.length);
    expect(b.map((x) => (x instanceof Error ? `error: ${x.message}` : x))).toEqual(a.map((x) => (x instanceof Error ? `error: ${x.message}` : x)));
    expect(a.filter((x) => x instanceof Error)).toHaveLength(1);
    expect(a.some((x) => !(x instanceof Error) && x.truncated)).toBe(true);
  });

  test('without them, a long window is encoded in slices between which the event loop runs', async () => {
    const scorer = await RewardScorer.open({ modelDir: MODELS.decoder, tokenizerThreads: 0, threads: 1 });
    const items = (quickstartSamples(240, 2) as { prompt: never; output: string }[]).map((s) => ({ prompt: s.prompt, response: s.output.repeat(4) }));
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    const out = await scorer.encodeMany(items);
    spinning = false;
    expect(out).toHaveLength(items.length);
    expect(out.every((x) => !(x instanceof Error))).toBe(true);
    // The event loop ran between slices (a synchronous encode would leave turns at 0); how many slices
    // a machine needs depends on its speed: bench/score.ts reports the time.
    expect(turns).toBeGreaterThan(1);
  });

  test('scoreFile writes the same output with and without them', async () => {
    const d = tmpDir();
    const input = path.join(d, 'in.jsonl');
    writeJsonl(input, quickstartSamples(20));
    const outs: string[] = [];
    for (const threads of [0, 2]) {
      const scorer = await RewardScorer.open({ modelDir: MODELS.decoder, tokenizerThreads: threads, threads: 1 });
      const out = path.join(d, `out-${threads}.jsonl`);
      await scoreFile(scorer, input, out);
      outs.push(fs.readFileSync(out, 'utf8'));
    }
    expect(outs[1]).toBe(outs[0]);
  });
});
