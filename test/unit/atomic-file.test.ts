import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../../activities/artifacts/atomic-file';
import { tmpDir } from '../helpers/paths';

test('a write removes the temp files killed writers left beside its target, and only those', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'shard-000.jsonl');
  const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_');
  const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const live = spawnSync('sleep', ['0'], {}).pid; // gone too, used only as another dead pid
  const names = {
    dead: `shard-000.jsonl.tmp-${host}-${deadPid}-ab12cd34`,
    dead2: `shard-000.jsonl.tmp-${host}-${live}-0000ffff`,
    mine: `shard-000.jsonl.tmp-${host}-${process.pid}-deadbeef`,
    foreignOld: 'shard-000.jsonl.tmp-other-host-123-aaaa0000',
    foreignNew: 'shard-000.jsonl.tmp-other-host-456-bbbb0000',
    otherTarget: `shard-001.jsonl.tmp-${host}-${deadPid}-cccc0000`,
  };
  for (const n of Object.values(names)) fs.writeFileSync(path.join(dir, n), 'partial');
  const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  fs.utimesSync(path.join(dir, names.foreignOld), old, old);

  const w = writeFileAtomic(target, ['{"a":1}\n']);
  expect(fs.readFileSync(target, 'utf8')).toBe('{"a":1}\n');
  expect(w.bytes).toBe(8);
  const left = new Set(fs.readdirSync(dir));
  expect(left.has(names.dead)).toBe(false);
  expect(left.has(names.dead2)).toBe(false);
  expect(left.has(names.foreignOld)).toBe(false);
  expect(left.has(names.mine)).toBe(true); // this process may still be writing it
  expect(left.has(names.foreignNew)).toBe(true); // another host's writer may still be at work
  expect(left.has(names.otherTarget)).toBe(true); // another target's business
  expect([...left].filter((n) => n.startsWith('shard-000.jsonl.tmp-'))).toHaveLength(2);
});
