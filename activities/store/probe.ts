/**
 * `validate`'s check of an artifact store: a small write, read back, list and delete under the
 * prefix, so a wrong bucket, endpoint, missing credentials or a missing permission shows before a
 * campaign starts. Each failure names the setting and the fix.
 */
import { randomUUID } from 'node:crypto';
import { StoreConfigError } from '../../config/errors';
import type { ArtifactStore } from './artifact-store';

export interface ProbeResult {
  ok: boolean;
  problems: string[];
  /** The store did not answer (it may be down or planned): not a configuration mistake. */
  unreachable?: boolean;
  /** Create-only writes honoured (the completion seal cannot be written twice). */
  conditionalWrites?: boolean;
}

export async function probeStore(store: ArtifactStore): Promise<ProbeResult> {
  const key = `.alignloop/probe/${randomUUID()}`;
  const body = `alignloop store probe ${new Date().toISOString()}`;
  const problems: string[] = [];
  let unreachable = false;
  const step = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      problems.push((e as Error).message);
      if (!(e instanceof StoreConfigError) && (e as Error).name === 'StoreUnavailable') unreachable = true;
      return undefined;
    }
  };
  const put = await step(() => store.putBytes(key, body));
  if (!put) return { ok: false, problems, ...(unreachable ? { unreachable } : {}) };
  const back = await step(() => store.getBytes(key, { sha256: put.sha256 }));
  if (back && back.toString() !== body) problems.push(`${store.description}: the probe object read back differs from what was written`);
  const listed = await step(async () => {
    for await (const o of store.list('.alignloop/probe/')) if (o.key === key) return true;
    return false;
  });
  if (listed === false) problems.push(`${store.description}: the probe object was written but a listing does not show it`);
  await step(() => store.delete(key));
  const conditionalWrites = await step(() => store.conditionalWrites());
  return { ok: problems.length === 0, problems, ...(conditionalWrites !== undefined ? { conditionalWrites } : {}) };
}
