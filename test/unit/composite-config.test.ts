/** A composite labeler's settings: its members' own checks at their place in the file, its own checks, and which edits may apply mid-campaign. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configChanges } from '../../config/config-changes';
import { ConfigError } from '../../config/errors';
import { loadCampaign } from '../../activities/campaign/load';
import { ROOT, tmpDir } from '../helpers/paths';

const EXAMPLE = path.join(ROOT, 'examples', 'composite', 'campaign.yaml');

/** The problems of the example edited by `edit` (written elsewhere: withModel makes its relative paths absolute). */
function problems(edit: (yaml: string) => string): string[] {
  const file = path.join(tmpDir(), 'campaign.yaml');
  fs.writeFileSync(file, edit(fs.readFileSync(EXAMPLE, 'utf8')));
  try {
    loadCampaign(file);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems;
  }
}

const withModel = (y: string) =>
  y
    .replace('../quickstart/reward-model', path.join(ROOT, 'examples', 'quickstart', 'reward-model'))
    .replace('check_math.py', path.join(ROOT, 'examples', 'composite', 'check_math.py'));

test('the shipped example is valid', () => {
  expect(loadCampaign(EXAMPLE).config.labeler).toMatchObject({
    kind: 'composite',
    combine: 'gate-then-weighted',
    members: [{ name: 'math' }, { name: 'rm' }, { name: 'judge' }],
  });
});

test("each member's problems at its place, and the composite's own", () => {
  const p = problems((y) =>
    withModel(y)
      .replace("'{{out}}'", "'{{output}}'")
      .replace('gate: true', 'gate: false')
      .replace('name: judge', 'name: rm')
      .replace('normalize: rank', 'normalize: rank\n      gate: true')
      .replace('combine: gate-then-weighted', 'combine: gate-then-weighted\n  minMembers: 5\n  disagreement: { drop: true }')
      .replace('type: pairwise', 'type: binary')
      .replace(/mode: max, threshold: 0.01, /, ''),
  );
  expect(p).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/labeler\.members\.0\.labeler\.command: unknown placeholder \{\{output\}\}/),
      expect.stringMatching(/labeler\.members\.2\.name: a second member named rm: names must differ/),
      expect.stringMatching(/labeler\.members\.2\.gate: only a verifier can gate \(it passes or fails samples\); rm is a judge/),
      expect.stringMatching(/labeler\.minMembers: 5 members must answer, but only 2 contribute a reward/),
      expect.stringMatching(/labeler\.disagreement\.drop: drops pairs: it needs feedback\.type pairwise, not binary/),
    ]),
  );
});

test('a judge member is pointwise and online; one reward-model member at most', () => {
  const p = problems((y) =>
    withModel(y)
      .replace('apiKeyEnv: JUDGE_API_KEY }', 'apiKeyEnv: JUDGE_API_KEY, batch: { enabled: true } }')
      .replace(
        '    - name: judge',
        `    - { name: rm2, labeler: { kind: reward-model, model: ${path.join(ROOT, 'examples', 'quickstart', 'reward-model')} } }\n    - name: judge`,
      ),
  );
  expect(p).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/labeler\.members\.3\.labeler\.batch\.enabled: a judge member is judged online/),
      expect.stringMatching(/labeler\.members: one reward-model member at most/),
    ]),
  );
});

describe('edits of a composite mid-campaign', () => {
  const config = (members: Record<string, unknown>[]) => ({ labeler: { kind: 'composite', members } });
  const rm = { name: 'rm', weight: 1, gate: false, labeler: { kind: 'reward-model', model: '/m' } };
  const math = { name: 'math', gate: true, labeler: { kind: 'verifier', command: ['python3', 'a.py', '{{in}}', '{{out}}'] } };

  test('weights, normalisation and a verifier command may change, member by member', () => {
    const { applied, refused } = configChanges(
      config([math, rm]),
      config([
        { ...math, labeler: { ...math.labeler, command: ['python3', 'b.py', '{{in}}', '{{out}}'] } },
        { ...rm, weight: 2, normalize: 'rank' },
      ]),
      { completed: 1 },
    );
    expect(refused).toEqual([]);
    expect(applied.map((c) => c.path)).toEqual(['labeler.members.0.labeler.command', 'labeler.members.1.normalize', 'labeler.members.1.weight']);
  });

  test("a member's kind, model, name or gate may not, nor may members come or go", () => {
    const { refused } = configChanges(
      config([math, rm]),
      config([
        { ...math, gate: false },
        { ...rm, labeler: { kind: 'reward-model', model: '/other' } },
        { ...rm, name: 'rm2' },
      ]),
      {
        completed: 1,
      },
    );
    expect(refused.map((c) => c.path)).toEqual([
      'labeler.members.0.gate',
      'labeler.members.1.labeler.model',
      'labeler.members.2.gate',
      'labeler.members.2.labeler.kind',
      'labeler.members.2.labeler.model',
      'labeler.members.2.name',
    ]);
  });
});
