/** The generated reference pages must match the schema and the CLI they are generated from. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CampaignSchema } from '../../activities/campaign/schema';
import { GENERATED_DOCS } from '../../scripts/generate-docs';

const DOCS = path.resolve(__dirname, '..', '..', '..', 'docs');

describe('generated docs', () => {
  it.each(Object.keys(GENERATED_DOCS))('docs/%s is up to date (run `npm run docs`)', (name) => {
    expect(fs.readFileSync(path.join(DOCS, name), 'utf8')).toBe(GENERATED_DOCS[name]());
  });

  it('the campaign reference names every setting the schema accepts, with every kind', () => {
    const page = fs.readFileSync(path.join(DOCS, 'campaign-file.md'), 'utf8');
    for (const k of ['builtin', 'openai', 'managed', 'command']) expect(page).toContain(`sampler.kind: ${k}`);
    for (const k of ['reward-model', 'reward-server', 'judge']) expect(page).toContain(`labeler.kind: ${k}`);
    for (const k of ['builtin', 'none', 'command']) expect(page).toContain(`trainer.kind: ${k}`);
    for (const s of ['sharding.maxInFlightShards', 'labeler.inputFormat', 'trainer.keepCheckpoints', 'sampler.idleStopSeconds', 'budget.usd'])
      expect(page).toContain(`\`${s}\``);
  });

  it('the JSON Schema accepts what the campaign schema accepts and refuses unknown keys', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(DOCS, 'campaign.schema.json'), 'utf8'));
    const quickstart = parseYaml(fs.readFileSync(path.resolve(DOCS, '..', 'examples', 'quickstart', 'campaign.yaml'), 'utf8'));
    expect(CampaignSchema.safeParse(quickstart).success).toBe(true);
    const sampler = schema.properties.sampler.oneOf.find((k: { properties: { kind: { const: string } } }) => k.properties.kind.const === 'builtin');
    expect(Object.keys(sampler.properties).sort()).toEqual(Object.keys(quickstart.sampler).concat('seed').sort());
    expect(schema.additionalProperties).toBe(false);
  });
});
