import { Worker } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignStatusQuery } from '../../workflows/messages';
import { WORKFLOW_BUNDLE } from '../../workers/workers';
import { MODELS } from '../helpers/paths';
import { cli, cliEnv, killHard, settledSinceLastSignal, spawnWorker, useTestServer, waitFor, writeCampaign } from '../helpers/temporal';

jest.setTimeout(600_000);

const ctx = useTestServer('alignloop-it-');

describe('a full small campaign', () => {
  let runOut: ReturnType<typeof cli>;
  beforeAll(() => {
    const file = writeCampaign(ctx.dir, 'full');
    runOut = cli(['run', file, '--id', 'full-1'], cliEnv(ctx.server.address), ctx.dir);
  });

  test('alignloop run completes and prints the per-iteration table', () => {
    expect(runOut.stderr).not.toMatch(/failed|internal error/);
    expect(runOut.status).toBe(0);
    expect(runOut.stdout).toMatch(/iter\s+prompts\s+samples\s+labelled\s+pairs\/examples\s+reward mean\s+checkpoint\s+wall s/);
    expect(runOut.stdout).toMatch(/campaign full-1 completed/);
  });

  test('history --json shows every iteration with lineage', () => {
    const h = cli(['history', 'full-1', '--json'], cliEnv(ctx.server.address));
    expect(h.status).toBe(0);
    const rows = JSON.parse(h.stdout);
    expect(rows.map((r: { iteration: number }) => r.iteration)).toEqual([0, 1, 2]);
    for (const r of rows) {
      expect(r).toMatchObject({ prompts: 16, samples: 64, labelled: 64 });
      expect(r.examples).toBeGreaterThan(0);
      expect(fs.existsSync(r.checkpoint)).toBe(true);
      const m = JSON.parse(fs.readFileSync(r.manifest, 'utf8'));
      expect(m.lineage.checkpoint_out.sha256).toBe(r.checkpointSha256);
      expect(m.feedback.examples_out).toBe(r.examples);
      expect(m.counts.prompts_sampled).toBe(16);
    }
    // each iteration's policy is the previous iteration's checkpoint
    const ms = rows.map((r: { manifest: string }) => JSON.parse(fs.readFileSync(r.manifest, 'utf8')));
    expect(ms[1].lineage.policy_in.sha256).toBe(ms[0].lineage.checkpoint_out.sha256);
    expect(ms[2].lineage.policy_in.sha256).toBe(ms[1].lineage.checkpoint_out.sha256);
    // disjoint prompt slices
    const ids = ms.map((m: { artifacts: { prompts: { path: string }[] } }) =>
      m.artifacts.prompts.flatMap((p) =>
        fs
          .readFileSync(p.path, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).prompt_id),
      ),
    );
    expect(new Set(ids.flat()).size).toBe(48);
  });

  test('an edited manifest is refused by history, naming the file', () => {
    const m = path.join(ctx.dir, 'artifacts', 'full-1', 'iter-001', 'manifest.json');
    const original = fs.readFileSync(m, 'utf8');
    fs.writeFileSync(m, original.replace(/"mean": -?[\d.]+/, '"mean": 99'));
    const r = cli(['history', 'full-1'], cliEnv(ctx.server.address));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${m} changed since it was recorded`);
    expect(r.stdout).not.toMatch(/99/);
    fs.writeFileSync(m, original);
    expect(cli(['history', 'full-1'], cliEnv(ctx.server.address)).status).toBe(0);
  });

  test('continue-as-new after every iteration keeps each run small', async () => {
    const runs: { status: string; historyLength: number }[] = [];
    for await (const w of ctx.client.workflow.list({ query: `WorkflowId = 'full-1'` })) runs.push({ status: w.status.name, historyLength: w.historyLength });
    expect(runs.filter((r) => r.status === 'CONTINUED_AS_NEW')).toHaveLength(2);
    expect(runs.filter((r) => r.status === 'COMPLETED')).toHaveLength(1);
    for (const r of runs) expect(r.historyLength).toBeLessThan(60);
  });

  test('search attributes: `--query` finds the campaign by state and its iterations by campaign, iteration and stage', async () => {
    const ids = async (query: string) => {
      const out: string[] = [];
      for await (const w of ctx.client.workflow.list({ query })) out.push(w.workflowId);
      return out.sort();
    };
    // Visibility is eventually consistent.
    await waitFor(
      'the completed campaign indexed',
      async () => (await ids(`AlignloopCampaign = 'full-1' AND AlignloopState = 'completed'`)).includes('full-1'),
      30000,
      250,
    );
    await waitFor(
      'every iteration indexed at stage done',
      async () => (await ids(`AlignloopCampaign = 'full-1' AND AlignloopStage = 'done'`)).join() === 'full-1/iter-0,full-1/iter-1,full-1/iter-2',
      30000,
      250,
    );
    expect(await ids(`AlignloopCampaign = 'full-1' AND AlignloopIteration = 1 AND AlignloopStage = 'done'`)).toEqual(['full-1/iter-1']);
  });

  test('Web UI: every activity has a summary, the workflows current details; the worker logs lifecycle lines at INFO', async () => {
    // Summaries are in the history (user metadata of each scheduled activity).
    const history = await ctx.client.workflow.getHandle('full-1/iter-1').fetchHistory();
    // Activities on task queues, and the control steps run as local activities (their markers).
    const steps = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    );
    const summaries = steps.map((e) => JSON.parse(Buffer.from(e.userMetadata?.summary?.data ?? []).toString('utf8')) as string);
    expect(summaries.filter(Boolean)).toHaveLength(steps.length);
    for (const want of [
      'prepare prompts · iteration 1',
      'sample shard 0/4 · iteration 1',
      'score shard 3 · iteration 1',
      'build pairwise feedback · iteration 1',
      'train (built-in dpo) · iteration 1',
      'write manifest · iteration 1',
    ])
      expect(summaries).toContain(want);

    // A worker of its own, at its default log level, runs a one-iteration campaign.
    const env = { ...cliEnv(ctx.server.address) };
    delete env.ALIGNLOOP_LOG_LEVEL;
    const worker = spawn(process.execPath, [path.join(__dirname, '..', '..', 'cli', 'main.js'), 'worker'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    worker.stderr!.on('data', (d: Buffer) => (log += d.toString('utf8')));
    try {
      const file = writeCampaign(ctx.dir, 'webui', { iterations: 1, perIteration: 8 });
      expect(cli(['start', file, '--id', 'webui-1'], cliEnv(ctx.server.address)).status).toBe(0);
      const handle = ctx.client.workflow.getHandle('webui-1');
      expect((await handle.result()).state).toBe('completed');
      // Current details come from the workflow's state (a metadata query, answered by replay once it is closed).
      const meta = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
      expect(meta.currentDetails).toBe('**webui** · completed · 1/1 iterations done');
      const iter = (await ctx.client.workflow.getHandle('webui-1/iter-0').query('__temporal_workflow_metadata')) as { currentDetails?: string };
      expect(iter.currentDetails).toBe('**iteration 0** · stage done');
      await waitFor('lifecycle lines', () => /campaign webui-1: completed/.test(log) || null, 30000, 100);
      expect(log).toMatch(/\[INFO\] campaign webui-1: running, iteration 0 \(0\/1 done\)/);
      for (const stage of ['prompts', 'sample', 'score', 'feedback', 'train', 'manifest'])
        expect(log).toMatch(new RegExp(`\\[INFO\\] iteration 0: (.*; )?stage ${stage} started`));
      expect(log).toMatch(/\[INFO\] iteration 0: stage score done in [\d.]+ s after the last shard was sampled/);
      expect(log).not.toMatch(/No Nexus services registered/);
      expect(log).toMatch(/\[INFO\] iteration 0: stage train done in [\d.]+ s/);
      expect(log.match(/campaign webui-1: completed/g)).toHaveLength(1); // replays (the metadata query) log nothing
    } finally {
      await killHard(worker);
    }
  });

  test('recorded histories replay without a determinism error', async () => {
    const histories = [];
    for await (const w of ctx.client.workflow.list({ query: `WorkflowId = 'full-1' OR WorkflowId STARTS_WITH 'full-1/iter-'` })) {
      histories.push({ workflowId: w.workflowId, history: await ctx.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory() });
    }
    expect(histories.length).toBe(6);
    const results = Worker.runReplayHistories({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, histories);
    for await (const r of results) expect(r.error).toBeUndefined();
  });

  test('a re-run of a finished campaign id is refused with a pointer to history', () => {
    const r = cli(['start', path.join(ctx.dir, 'full.yaml'), '--id', 'full-1'], cliEnv(ctx.server.address));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/already ran to the end; see `alignloop history full-1`/);
  });
});

describe('pause, resume, stop', () => {
  test('pause holds before the next iteration, resume continues, stop ends after the current iteration', async () => {
    const file = writeCampaign(ctx.dir, 'ctl', { iterations: 6, perIteration: 8 });
    const env = cliEnv(ctx.server.address, { ALIGNLOOP_TEST_SLOW_MS: '40' });
    const worker = spawnWorker(env);
    try {
      expect(cli(['start', file, '--id', 'ctl-1'], env).status).toBe(0);
      const h = ctx.client.workflow.getHandle('ctl-1');
      const status = () => h.query(campaignStatusQuery).catch(() => null);
      await waitFor('iteration 0 to start', async () => (await status())?.currentIteration === 0);
      expect(cli(['pause', 'ctl-1'], env).status).toBe(0);
      const paused = await waitFor('paused state', async () => {
        const s = await status();
        return s?.state === 'paused' ? s : null;
      });
      const done = paused.completed;
      // Paused between iterations and waiting for a signal alone: nothing started, nothing can start.
      expect(await settledSinceLastSignal(h)).toEqual([]);
      const still = await status();
      expect(still?.state).toBe('paused');
      expect(still?.completed).toBe(done);
      expect(still?.currentIteration).toBeNull();
      const st = cli(['status', 'ctl-1', '--json'], env);
      expect(JSON.parse(st.stdout).status.state).toBe('paused');

      expect(cli(['resume', 'ctl-1'], env).status).toBe(0);
      await waitFor('progress after resume', async () => ((await status())?.completed ?? 0) > done, 60000);
      await waitFor('an iteration in flight', async () => (await status())?.currentIteration != null, 60000);
      const s = await status();
      expect(cli(['stop', 'ctl-1'], env).status).toBe(0);
      const result = await h.result();
      expect(result.state).toBe('stopped');
      expect(result.summaries.length).toBeLessThan(6);
      // the iteration in flight when stop arrived was finished, not cut off
      expect(result.summaries.length).toBeGreaterThanOrEqual((s?.currentIteration ?? 0) + 1);
    } finally {
      await killHard(worker);
    }
  });
});

describe('prompt files as people write them', () => {
  test('a BOM, CRLF line ends and blank lines are accepted', () => {
    const f = path.join(ctx.dir, 'bom.jsonl');
    const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `q ${i}`, candidates: ['yes', 'no'] }));
    fs.writeFileSync(f, '\uFEFF' + lines.join('\r\n') + '\r\n\r\n');
    const file = writeCampaign(ctx.dir, 'bom', { perIteration: 4, iterations: 2, promptsPath: f });
    const r = cli(['validate', file], cliEnv(ctx.server.address));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('invalid campaign files', () => {
  const cases: [string, string, RegExp[]][] = [
    ['not yaml', 'name: x\n  iterations: [\n', [/line \d+/]],
    ['missing sections', 'name: x\niterations: 2\n', [/prompts: required/, /sampler: /, /labeler: /, /feedback: /, /trainer: /]],
    [
      'unknown key and bad types',
      'name: x\niterations: -1\nitterations: 3\nprompts: { path: p.jsonl, perIteration: 0 }\n',
      [/line 2: iterations:/, /unknown key "itterations"/, /line 4: prompts.perIteration/],
    ],
    ['DPO with binary feedback', null as never, [/feedback.type: DPO trains on pairs/]],
    ['pairwise with 1 sample per prompt', null as never, [/sampler.samplesPerPrompt: pairwise feedback needs at least 2 samples per prompt/]],
    ['pairwise with median threshold', null as never, [/feedback.threshold: pairwise needs a number/]],
    ['too few prompts', null as never, [/need 30000 distinct prompts but the file has 240/]],
    ['pairwise judge with binary feedback', null as never, [/feedback.type: a pairwise judge produces pairwise feedback directly/]],
    ['judge with a swap typo', null as never, [/line 5: labeler.swap: Invalid option: expected one of "single"\|"both"/]],
    ['pairwise judge with a feedback mode', null as never, [/feedback.mode: the pairwise judge picks and decides the pairs itself/]],
    ['pointwise judge with pairwise-only options', null as never, [/labeler.swap: labeler.swap applies to mode: pairwise only/]],
    ['a bad prompt line', null as never, [/prompts.path: .*bad-prompts.jsonl:3: not valid JSON/]],
    ['duplicate prompts', null as never, [/prompts.path: .*dup-prompts.jsonl:2: duplicate prompt \(same turns as line 1\)/]],
    ['prompts without candidates', null as never, [/prompts.path: .*nocand.jsonl:1: 30 of 30 prompts have no "candidates"/]],
    ['a corrupt model.onnx', null as never, [/labeler.model: .*corrupt-rm/]],
    ['a model folder without a tokenizer', null as never, [/labeler.model: .*notok-rm\/tokenizer.json: missing tokenizer.json/]],
  ];
  const promptsFile = (name: string, lines: string[]) => {
    const f = path.join(ctx.dir, name);
    fs.writeFileSync(f, lines.join('\n') + '\n');
    return f;
  };
  const modelCopy = (name: string, change: (dir: string) => void) => {
    const d = path.join(ctx.dir, name);
    fs.cpSync(MODELS.bt, d, { recursive: true });
    change(d);
    return `{ kind: reward-model, model: ${d} }`;
  };
  const prompts = (i: number) => JSON.stringify({ prompt: `question ${i}`, candidates: ['a', 'b'] });
  test.each(cases)('%s: exit 2, every problem listed, nothing started', (name, text, patterns) => {
    const id = `bad-${name.replace(/\W+/g, '-')}`;
    let file: string;
    if (text) {
      file = path.join(ctx.dir, `${id}.yaml`);
      fs.writeFileSync(file, text);
    } else if (name.startsWith('DPO')) file = writeCampaign(ctx.dir, id, { feedback: '{ type: binary, threshold: mean }' });
    else if (name.startsWith('pairwise with 1')) file = writeCampaign(ctx.dir, id, { samplesPerPrompt: 1 });
    else if (name.startsWith('pairwise with median')) file = writeCampaign(ctx.dir, id, { feedback: '{ type: pairwise, threshold: median }' });
    else if (name.startsWith('pairwise judge with binary')) {
      file = writeCampaign(ctx.dir, id, {
        labeler: '{ kind: judge, mode: pairwise, baseURL: http://127.0.0.1:9/v1, model: m }',
        feedback: '{ type: binary }',
        trainer: '{ kind: builtin, method: kto }',
      });
    } else if (name.startsWith('judge with a swap')) {
      file = writeCampaign(ctx.dir, id, { labeler: '{ kind: judge, mode: pairwise, swap: twice, baseURL: http://127.0.0.1:9/v1, model: m }' });
    } else if (name.startsWith('pairwise judge with a')) {
      file = writeCampaign(ctx.dir, id, {
        labeler: '{ kind: judge, mode: pairwise, baseURL: http://127.0.0.1:9/v1, model: m }',
        feedback: '{ type: pairwise, mode: max }',
      });
    } else if (name.startsWith('pointwise judge')) {
      file = writeCampaign(ctx.dir, id, { labeler: '{ kind: judge, swap: both, baseURL: http://127.0.0.1:9/v1, model: m }' });
    } else if (name === 'a bad prompt line') {
      file = writeCampaign(ctx.dir, id, {
        perIteration: 1,
        iterations: 1,
        promptsPath: promptsFile('bad-prompts.jsonl', [prompts(1), prompts(2), '{"prompt": "x",', prompts(4)]),
      });
    } else if (name === 'duplicate prompts') {
      file = writeCampaign(ctx.dir, id, { perIteration: 1, iterations: 1, promptsPath: promptsFile('dup-prompts.jsonl', [prompts(1), prompts(1)]) });
    } else if (name === 'prompts without candidates') {
      const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ prompt: [{ role: 'user', content: `q${i}` }] }));
      file = writeCampaign(ctx.dir, id, { perIteration: 10, iterations: 1, promptsPath: promptsFile('nocand.jsonl', lines) });
    } else if (name === 'a corrupt model.onnx') {
      file = writeCampaign(ctx.dir, id, { labeler: modelCopy('corrupt-rm', (d) => fs.writeFileSync(path.join(d, 'model.onnx'), 'not a model')) });
    } else if (name === 'a model folder without a tokenizer') {
      file = writeCampaign(ctx.dir, id, { labeler: modelCopy('notok-rm', (d) => fs.rmSync(path.join(d, 'tokenizer.json'))) });
    } else file = writeCampaign(ctx.dir, id, { iterations: 1000, perIteration: 30 });
    for (const cmd of ['start', 'run', 'validate']) {
      const r = cli([cmd, file, '--id', id].slice(0, cmd === 'validate' ? 2 : 4), cliEnv(ctx.server.address));
      expect(r.status).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stderr).toContain(path.basename(file));
      for (const p of patterns) expect(r.stderr).toMatch(p);
    }
    return ctx.client.workflow
      .getHandle(id)
      .describe()
      .then(
        () => {
          throw new Error('a workflow was started');
        },
        (e) => expect(e.name).toBe('WorkflowNotFoundError'),
      );
  });
});
