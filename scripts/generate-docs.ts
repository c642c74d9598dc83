/** `npm run docs`: writes the generated reference pages (campaign file, its JSON Schema, CLI) into docs/. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { campaignJsonSchema, campaignReferenceMarkdown } from '../activities/campaign/reference';
import { cliReferenceMarkdown } from '../cli/reference';

export const GENERATED_DOCS: Record<string, () => string> = {
  'campaign-file.md': campaignReferenceMarkdown,
  'campaign.schema.json': () => JSON.stringify(campaignJsonSchema(), null, 2) + '\n',
  'cli.md': cliReferenceMarkdown,
};

if (require.main === module) {
  const dir = path.resolve(__dirname, '..', '..', 'docs');
  for (const [name, make] of Object.entries(GENERATED_DOCS)) {
    fs.writeFileSync(path.join(dir, name), make());
    console.log(`wrote docs/${name}`);
  }
}
