/** What `alignloop audit` says about how an iteration trained, for every trainer kind. */
import { trainerIdentity, trainerSettings } from '../../activities/audit/trainer-identity';
import { CampaignSchema } from '../../activities/campaign/schema';

const trainer = (t: Record<string, unknown>) => CampaignSchema.shape.trainer.parse(t);
const ref = (name: string) => ({ path: `/a/${name}`, sha256: name.repeat(64).slice(0, 64), count: 1, bytes: 1 });
const feedback = { jsonl: ref('1'), halos: ref('2'), trl: ref('3') };

test.each([
  [
    { kind: 'builtin', method: 'kto', beta: 0.2, reference: 'previous' },
    { kind: 'builtin', preset: null, method: 'kto', beta: 0.2, reference: 'previous' },
    ['jsonl'],
  ],
  [{ kind: 'none' }, { kind: 'none', preset: null, method: 'dpo', beta: null, reference: null }, []],
  [{ kind: 'command', preset: 'halos', method: 'dpo' }, { kind: 'command', preset: 'halos', method: 'dpo', beta: 0.1, reference: 'initial' }, ['halos']],
  [{ kind: 'command', preset: 'trl', method: 'kto', beta: 0.3 }, { kind: 'command', preset: 'trl', method: 'kto', beta: 0.3, reference: 'initial' }, ['trl']],
  [{ kind: 'command', preset: 'openrlhf', method: 'dpo' }, { kind: 'command', preset: 'openrlhf', method: 'dpo', beta: 0.1, reference: 'initial' }, ['trl']],
  [
    { kind: 'command', preset: 'custom', method: 'dpo', command: ['train', '--data={{feedback.jsonl}}', '{{ feedback.halos }}'] },
    { kind: 'command', preset: 'custom', method: 'dpo', beta: 0.1, reference: 'initial' },
    ['halos', 'jsonl'],
  ],
])('%j', (t, expected, formats) => {
  const s = trainerSettings(trainer(t));
  const id = trainerIdentity(JSON.parse(JSON.stringify(s)), ref('r'), feedback, null);
  expect(id).toMatchObject(expected);
  expect(id.feedback_files.map((f) => f.format)).toEqual(formats);
  for (const f of id.feedback_files) expect(f.sha256).toBe(feedback[f.format as keyof typeof feedback].sha256);
  expect(id.reference_checkpoint).toEqual(t.kind === 'none' ? null : { path: '/a/r', sha256: ref('r').sha256 });
});

test('a manifest from before settings.trainer: the command descriptor still names the preset', () => {
  expect(trainerIdentity(undefined, ref('r'), feedback, { preset: 'halos' })).toMatchObject({
    kind: 'command',
    preset: 'halos',
    feedback_files: [{ format: 'halos' }],
  });
});
