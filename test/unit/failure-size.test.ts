/**
 * Failures fit the server's limit: Temporal keeps a retried activity's last failure in mutable state and
 * replaces one over 4 KiB with "Failure exceeds size limit.", which is what `status` then showed instead
 * of why a HALOs attempt failed (its log lines are long).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DefaultFailureConverter, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { toActivityFailure } from '../../activities/durable';
import { withLogTail } from '../../activities/process/supervisor';
import { ProcessCrashed } from '../../config/errors';
import { boundText } from '../../config/failure-size';
import { ROOT, tmpDir } from '../helpers/paths';

const encodedSize = (f: unknown) =>
  temporal.api.failure.v1.Failure.encode(new DefaultFailureConverter().errorToFailure(f, defaultPayloadConverter)).finish().length;

describe('failure size', () => {
  test("a trainer crash with HALOs' long log lines: the failure stays under 4 KiB, saying what failed and how the log ended", () => {
    const dir = tmpDir('failure-size-');
    const log = path.join(dir, 'trainer.log');
    const halos = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'trainer-logs', 'halos-4831988-dpo.log'), 'utf8');
    // A crash mid-training: the log's last lines are HALOs' stats lines (each ~600 characters), then the error.
    const stats = halos.split('\n').filter((l) => l.startsWith('train stats after'));
    const more = Array.from({ length: 14 }, (_, i) => stats[i % stats.length]).join('\n');
    fs.writeFileSync(log, `${halos}${more}\nRuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (simulated end of the log)\n`);
    const e = new ProcessCrashed(withLogTail('trainer exited with code 1 (attempt 1); retried', log));
    const f = toActivityFailure(e) as Error;
    expect(encodedSize(f)).toBeLessThan(4096);
    expect(f.message).toMatch(/^trainer exited with code 1 \(attempt 1\); retried/);
    expect(f.message).toMatch(/CUDA out of memory.*simulated end of the log\)\n?$/);
    expect(f.message).toMatch(/cut to fit the failure size limit; the full log is in the artifacts/);
    // Any error, not only the error model's.
    expect(encodedSize(toActivityFailure(new Error('x'.repeat(20000))))).toBeLessThan(4096);
  });

  test('short messages are unchanged; multi-byte text is never cut inside a character', () => {
    expect(boundText('short', 100)).toBe('short');
    const s = boundText('é'.repeat(3000), 1000);
    expect(new TextEncoder().encode(s).length).toBeLessThanOrEqual(1000);
    expect(s).not.toContain('\uFFFD');
  });
});
