/** The eval: block of a campaign file: what validate refuses (file, line, setting), what may change mid-campaign, the shipped example. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCampaign } from '../../activities/campaign/load';
import { configChanges } from '../../config/config-changes';
import { CLI, MODELS, QUICKSTART_PROMPTS, ROOT, tmpDir } from '../helpers/paths';

const EVAL_PROMPTS = path.join(ROOT, 'examples', 'quickstart', 'eval-prompts.jsonl');

function campaign(evalLine: string, sampler = '{ kind: builtin }', trainer = '{ kind: builtin, method: dpo }'): string {
  const dir = tmpDir('alignloop-eval-config-');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(
    file,
    [
      'name: c',
      'iterations: 2',
      `prompts: { path: ${QUICKSTART_PROMPTS}, perIteration: 8 }`,
      `sampler: ${sampler}`,
      `labeler: { kind: reward-model, model: ${MODELS.bt} }`,
      'feedback: { type: pairwise }',
      `trainer: ${trainer}`,
      evalLine,
    ].join('\n') + '\n',
  );
  return file;
}

const problems = (file: string): string => {
  try {
    loadCampaign(file);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

test('the shipped quickstart-with-eval campaign validates', () => {
  const r = spawnSync(process.execPath, [CLI, 'validate', path.join(ROOT, 'examples', 'quickstart', 'campaign-eval.yaml')], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('eval.prompts: relative to the campaign file, must exist, and must not be the training file', () => {
  // a relative path resolves against the campaign file's folder
  const rel = campaign('eval: { prompts: held-out.jsonl }');
  fs.copyFileSync(EVAL_PROMPTS, path.join(path.dirname(rel), 'held-out.jsonl'));
  expect(loadCampaign(rel, '/').config.eval!.prompts).toBe(path.join(path.dirname(rel), 'held-out.jsonl'));
  expect(problems(campaign('eval: { prompts: nope.jsonl }'))).toMatch(
    /line 8: eval\.prompts: file not found: .*nope\.jsonl; point it at a held-out prompts file/,
  );
  expect(problems(campaign(`eval: { prompts: ${QUICKSTART_PROMPTS} }`))).toMatch(/eval\.prompts: is the training prompts file; evaluate on held-out prompts/);
  const good = loadCampaign(campaign(`eval: { prompts: ${EVAL_PROMPTS} }`)).config;
  expect(good.eval).toMatchObject({
    prompts: EVAL_PROMPTS,
    everyIterations: 1,
    samplesPerPrompt: 1,
    bestBy: 'winRate',
    hackingGuard: false,
    maxLengthRatio: 1.5,
  });
});

test('eval needs the builtin sampler and a score-queue eval scorer; eval.labeler is checked like a labeler, under its own name', () => {
  const openai = campaign(`eval: { prompts: ${EVAL_PROMPTS} }`, '{ kind: openai, baseURL: http://127.0.0.1:1/v1, model: m }', '{ kind: none }');
  expect(problems(openai)).toMatch(/eval: evaluation samples with the builtin sampler only for now, not openai; remove eval/);
  const judge = campaign(`eval: { prompts: ${EVAL_PROMPTS}, labeler: { kind: judge, baseURL: http://127.0.0.1:1/v1, model: j } }`);
  expect(problems(judge)).toMatch(/eval\.labeler: eval answers are scored on the score queue: give eval a reward-model or reward-server labeler/);
  const missing = campaign(`eval: { prompts: ${EVAL_PROMPTS}, labeler: { kind: reward-model, model: /nonexistent-rm } }`);
  expect(problems(missing)).toMatch(/eval\.labeler\.model: /);
  expect(problems(campaign(`eval: { prompts: ${EVAL_PROMPTS}, bestBy: loss }`))).toMatch(/eval\.bestBy/);
});

test('mid-campaign edits: what evaluations are compared by is fixed; the rules may change', () => {
  const a = loadCampaign(campaign(`eval: { prompts: ${EVAL_PROMPTS}, stopWhen: { noImprovement: 2 } }`)).config;
  const b = { ...a, eval: { ...a.eval!, everyIterations: 2, hackingGuard: true, stopWhen: { noImprovement: 4 } } };
  const applied = configChanges(a, b, { completed: 1 });
  expect(applied.refused).toEqual([]);
  expect(applied.applied.map((c) => c.path).sort()).toEqual(['eval.everyIterations', 'eval.hackingGuard', 'eval.stopWhen.noImprovement']);
  const c = { ...a, eval: { ...a.eval!, seed: 9, samplesPerPrompt: 3, bestBy: 'lcWinRate' as const } };
  expect(
    configChanges(a, c, { completed: 1 })
      .refused.map((r) => r.path)
      .sort(),
  ).toEqual(['eval.bestBy', 'eval.samplesPerPrompt', 'eval.seed']);
  const { eval: _none, ...without } = a;
  expect(configChanges(without, a, { completed: 1 }).refused.map((r) => r.path)).toContain('eval.prompts'); // no eval added mid-campaign
});
