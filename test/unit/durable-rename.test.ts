/**
 * A file published by a rename (an output, its completion record, the campaign identity) survives a
 * lost machine only once its folder's entry is on disk: the folder is fsync'd after the rename. What
 * reaches the disk cannot be observed here without pulling the power, so this watches the calls.
 */
import type { PathLike } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { claimIdentity, newIdentity } from '../../activities/artifacts/campaign-identity';
import { markComplete } from '../../activities/artifacts/store';
import type { CampaignConfig } from '../../activities/types';
import { tmpDir } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs') as typeof import('node:fs');

function watchCalls(): { calls: string[]; restore: () => void } {
  const calls: string[] = [];
  const fds = new Map<number, string>();
  const { openSync, renameSync, linkSync, fsyncSync } = fs;
  const spies = [
    jest.spyOn(fs, 'openSync').mockImplementation(((p: PathLike, ...rest: never[]) => {
      const fd = (openSync as (...a: unknown[]) => number)(p, ...rest);
      fds.set(fd, String(p));
      return fd;
    }) as typeof openSync),
    jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      renameSync(from, to);
      calls.push(`publish ${String(to)}`);
    }),
    jest.spyOn(fs, 'linkSync').mockImplementation((from, to) => {
      linkSync(from, to);
      calls.push(`publish ${String(to)}`);
    }),
    jest.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
      fsyncSync(fd);
      calls.push(`fsync ${fds.get(fd as number)}`);
    }),
  ];
  return { calls, restore: () => spies.forEach((s) => s.mockRestore()) };
}

const syncedAfterPublish = (calls: string[], file: string) => {
  const i = calls.indexOf(`publish ${file}`);
  return i >= 0 && calls.slice(i + 1).includes(`fsync ${path.dirname(file)}`);
};

test('an atomic write, a completion record and the campaign identity fsync their folder after the rename', () => {
  const dir = tmpDir('alignloop-rename-');
  const w = watchCalls();
  try {
    const out = path.join(dir, 'iter-000', 'scored', 'shard-000.jsonl');
    const written = writeFileAtomic(out, '{"a":1}\n');
    markComplete({ ...written, count: 1 }, {});
    claimIdentity(dir, newIdentity('c', { name: 'c' } as CampaignConfig, 'run-1'));
    expect(syncedAfterPublish(w.calls, out)).toBe(true);
    expect(syncedAfterPublish(w.calls, `${out}.done.json`)).toBe(true);
    expect(syncedAfterPublish(w.calls, path.join(dir, 'campaign.identity.json'))).toBe(true);
  } finally {
    w.restore();
  }
});
