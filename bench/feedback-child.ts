/** One measured conversion, in its own process (see feedback.ts). Prints one JSON line. */
import { buildFeedback, FeedbackOptions } from '../activities/feedback/build';
import { forEachLine } from '../activities/artifacts/json-lines';
import { readScoredSamples } from '../activities/feedback/files';
import { formatFile, FeedbackFormat } from '../activities/feedback/formats';
import { writeFileAtomic } from '../activities/artifacts/atomic-file';

async function main(): Promise<void> {
  const [mode, input, out, ...rest] = process.argv.slice(2);
  const t0 = process.hrtime.bigint();
  let summary = '';
  if (mode === 'parse-only') {
    let n = 0;
    await forEachLine(input, (l) => {
      JSON.parse(l);
      n++;
    });
    summary = `${n} lines`;
  } else {
    const arg = (k: string) => {
      const i = rest.indexOf(k);
      return i >= 0 ? rest[i + 1] : undefined;
    };
    const t = arg('--threshold');
    const opts: FeedbackOptions = {
      type: arg('--type') as FeedbackOptions['type'],
      mode: arg('--mode') as FeedbackOptions['mode'],
      threshold: t === undefined ? undefined : t === 'mean' || t === 'median' ? t : Number(t),
      seed: 0,
    };
    const samples = await readScoredSamples(input);
    const { examples, stats } = buildFeedback(samples.groups, opts);
    const w = writeFileAtomic(out, formatFile(examples, arg('--format') as FeedbackFormat));
    summary = `${stats.examples_out} out, ${(w.bytes / 1e6).toFixed(0)} MB written`;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024, out: summary }));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
