/**
 * The feedback stage of a campaign iteration, streamed: two passes over the scored shards (every
 * labelled reward first, for the global threshold and the reward summary; then the examples, shard
 * by shard, written to the three files as they come), so memory holds one shard, not the iteration.
 * The output is byte-identical to building it in memory: a prompt's samples all sit in one shard,
 * and groups are taken in the same order. If a prompt does span shards, the in-memory build is used.
 */
import * as path from 'node:path';
import { AtomicFileWriter, writeFileAtomic } from '../artifacts/atomic-file';
import { FileRef, verifyRef } from '../artifacts/store';
import { FeedbackBuilder, FeedbackStats, labelledRewards, ThresholdRule } from './build';
import { readScoredSamples } from './files';
import { formatExample, formatFile, FeedbackFormat } from './formats';
import { feedbackFromScoredShards, FeedbackSettings } from './from-scored-shards';
import { ScoredSampleCollector } from './scored-samples';

export interface WrittenFeedback {
  files: Record<'jsonl' | 'halos' | 'trl', { path: string; sha256: string; bytes: number; count: number }> | null;
  stats: FeedbackStats;
}

const FILES: [FeedbackFormat, 'jsonl' | 'halos' | 'trl', string][] = [
  ['jsonl', 'jsonl', 'feedback.jsonl'],
  ['halos', 'halos', 'feedback.halos.json'],
  ['trl', 'trl', 'feedback.trl.jsonl'],
];

const readShard = (ref: FileRef) => readScoredSamples(ref.path, new ScoredSampleCollector(ref.path));

export async function writeFeedbackStreamed(f: FeedbackSettings, scored: FileRef[], dir: string): Promise<WrittenFeedback> {
  const opts = {
    type: f.type,
    mode: f.mode,
    threshold: f.threshold as ThresholdRule | undefined,
    thresholdScope: f.perPrompt ? ('prompt' as const) : ('global' as const),
    seed: f.seed,
    ...(f.disagreement ? { disagreement: f.disagreement } : {}),
  };
  // Pass 1: every labelled reward, and whether any prompt spans two shards.
  const rewards: number[] = [];
  const seen = new Set<string>();
  let spans = false;
  for (const ref of scored) {
    verifyRef(ref, 'scored shard');
    const shard = await readShard(ref);
    for (const id of shard.groups.keys()) {
      if (seen.has(id)) spans = true;
      seen.add(id);
    }
    labelledRewards(shard.groups.values(), rewards);
  }
  if (spans) {
    const { examples, stats } = await feedbackFromScoredShards(f, scored);
    if (examples.length === 0) return { files: null, stats };
    const files = Object.fromEntries(
      FILES.map(([fmt, key, name]) => [key, { ...writeFileAtomic(path.join(dir, name), formatFile(examples, fmt)), count: examples.length }]),
    ) as WrittenFeedback['files'];
    return { files, stats };
  }
  // Pass 2: examples shard by shard, straight into the files.
  const builder = new FeedbackBuilder(opts, rewards);
  let writers: [FeedbackFormat, 'jsonl' | 'halos' | 'trl', AtomicFileWriter][] | null = null;
  let count = 0;
  try {
    for (const ref of scored) {
      const shard = await readShard(ref);
      for (const group of shard.groups.values()) {
        for (const ex of builder.addGroup(group)) {
          if (!writers) {
            writers = FILES.map(([fmt, key, name]) => [fmt, key, new AtomicFileWriter(path.join(dir, name))]);
            writers[1][2].write('[');
          }
          for (const [fmt, , w] of writers) w.write(fmt === 'halos' ? (count === 0 ? '\n' : ',\n') + formatExample(ex, fmt) : formatExample(ex, fmt) + '\n');
          count++;
        }
      }
    }
    const stats = builder.finish();
    if (!writers) return { files: null, stats };
    writers[1][2].write('\n]\n');
    const files = Object.fromEntries(writers.map(([, key, w]) => [key, { ...w.commit(), count }])) as WrittenFeedback['files'];
    writers = null;
    return { files, stats };
  } finally {
    for (const [, , w] of writers ?? []) w.abort();
  }
}
