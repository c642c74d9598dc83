/** `alignloop best ID`: the best checkpoint of a campaign by its eval metric, read from the iteration manifests. */
import type { Command } from 'commander';
import * as fs from 'node:fs';
import { readManifests } from '../../activities/audit/manifests';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { BestIteration, bestOf } from '../../activities/eval/best';
import { UserError } from '../../config/errors';
import { exitWith, out } from '../context';
import * as path from 'node:path';
import { onThisHost } from '../../activities/store/mirror-paths';
import { localArtifacts } from './inspect';

export interface BestRow extends BestIteration {
  /** The checkpoint file is there and still hashes to what its manifest recorded. */
  checkpointIntact: boolean;
  manifest: string;
}

const f = (x: number | null, d = 4) => (x === null ? '-' : x.toFixed(d));

async function best(id: string, opts: { json?: boolean; root?: string }): Promise<number> {
  const local = await localArtifacts(id, opts.root);
  const found = bestOf(readManifests(local.root, id));
  if (!found) throw new UserError(`campaign ${id} has no evaluated iteration yet (an eval: block in the campaign file evaluates each new checkpoint)`);
  // A store-backed campaign's records name the writing host's copy: check this host's, show the s3:// key.
  const here = onThisHost(found.checkpoint, path.join(local.root, id));
  const intact = fs.existsSync(here) && sha256File(here) === found.checkpointSha256;
  const row: BestRow = local.display({
    ...found,
    checkpointIntact: intact,
    manifest: found.eval.metricsFile.path.replace(/eval[\\/]metrics\.json$/, 'manifest.json'),
  });
  const b = row;
  if (opts.json) {
    out(JSON.stringify(row, null, 2));
    return 0;
  }
  const e = b.eval;
  out(`best checkpoint of ${id} by ${b.by}: iteration ${b.iteration} (${b.value.toFixed(4)})`);
  out(`  path     ${b.checkpoint}${intact ? '' : '  (MISSING or changed since it was recorded)'}`);
  out(`  sha256   ${b.checkpointSha256}`);
  out(
    `  win rate ${f(e.winRate, 3)}${e.winRateCi ? ` [${f(e.winRateCi[0], 3)}, ${f(e.winRateCi[1], 3)}]` : ''} vs the initial policy ` +
      `(${e.wins} wins, ${e.losses} losses, ${e.ties} ties); LC win rate ${f(e.lcWinRate, 3)}`,
  );
  out(
    `  reward   ${f(e.rewardMean)} (baseline ${f(e.baselineRewardMean)}); length ${f(e.meanLength, 1)} chars (baseline ${f(e.baselineMeanLength, 1)}); truncated ${f(e.truncatedShare, 3)}`,
  );
  return intact ? 0 : 1;
}

export function registerBestCommand(program: Command): void {
  program
    .command('best')
    .description("the best checkpoint by the campaign's eval metric (eval.bestBy): path, sha256 and its eval metrics")
    .argument('<id>', 'campaign id')
    .option('--json', 'machine-readable output')
    .option('--root <dir>', "the campaign's artifacts root (read manifests without a Temporal server)")
    .action((id: string, opts: { json?: boolean; root?: string }) => exitWith(best(id, opts)));
}
