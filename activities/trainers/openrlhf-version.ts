/**
 * Which OpenRLHF the `python` on this PATH imports, read from its installed sources rather than its
 * version number: the 2026-04 rename moved the CLI to dotted flags (`--model.model_name_or_path`,
 * `--ckpt.output_dir`, …) and removed `openrlhf.cli.train_kto`.
 */
import { spawnSync } from 'node:child_process';

export interface InstalledOpenRlhf {
  version: string;
  flags: 'current' | '0.8';
  methods: ('dpo' | 'kto')[];
}

const PROBE = `
import importlib.util, importlib.metadata, json, os
spec = importlib.util.find_spec('openrlhf')
if spec is None:
    print(json.dumps(None))
else:
    cli = os.path.join(os.path.dirname(spec.origin), 'cli')
    dpo = os.path.join(cli, 'train_dpo.py')
    src = open(dpo).read() if os.path.exists(dpo) else ''
    try:
        v = importlib.metadata.version('openrlhf')
    except Exception:
        v = 'unknown'
    print(json.dumps({'version': v, 'dotted': '--model.model_name_or_path' in src, 'dpo': bool(src), 'kto': os.path.exists(os.path.join(cli, 'train_kto.py'))}))
`;

/** What the OpenRLHF on this machine can train, or null when no python here imports it. */
export function installedOpenRlhf(python = 'python3'): InstalledOpenRlhf | null {
  const r = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 30_000, env: process.env });
  if (r.status !== 0) return null;
  try {
    const d = JSON.parse(r.stdout.trim().split('\n').pop() ?? 'null') as { version: string; dotted: boolean; dpo: boolean; kto: boolean } | null;
    if (!d) return null;
    return { version: d.version, flags: d.dotted ? 'current' : '0.8', methods: [...(d.dpo ? (['dpo'] as const) : []), ...(d.kto ? (['kto'] as const) : [])] };
  } catch {
    return null;
  }
}

/** Why the installed OpenRLHF cannot run these settings, or null. */
export function openRlhfMismatch(installed: InstalledOpenRlhf, flags: 'current' | '0.8', method: string): string | null {
  const can = `the OpenRLHF installed here (${installed.version}) uses the ${installed.flags === 'current' ? 'current dotted flags' : '0.8.x flags'} and can train ${installed.methods.join(' and ') || 'nothing alignloop runs'}`;
  if (installed.flags !== flags) return `trainer.flags is ${flags}, but ${can}: set trainer.flags: ${installed.flags}`;
  if (!installed.methods.includes(method as 'dpo')) return `trainer.method ${method}: ${can}`;
  return null;
}
