/** The `judge` labeler kind: its checks and preflight (its settings: activities/judge/config.ts, shared with `alignloop judge`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Problem } from '../../../config/kind';
import { checkEndpoint } from '../../campaign/checks';
import { JudgeConfigSchema } from '../../judge/config';
import { loadTemplate } from '../../judge/template';
import type { LabelerKind } from '../labeler';

export const judgeKind: LabelerKind<typeof JudgeConfigSchema> = {
  schema: JudgeConfigSchema,
  queue: 'judge',
  resolvePaths(l, base) {
    if (l.template) l.template = path.resolve(base, l.template);
  },
  problems(l, c, raw) {
    const out: Problem[] = [];
    if (l.mode === 'pairwise') {
      if (c.feedback.type !== 'pairwise') {
        out.push({
          path: ['feedback', 'type'],
          message: `a pairwise judge produces pairwise feedback directly: feedback.type must be pairwise, not ${c.feedback.type} (or use labeler.mode: pointwise for rewards per sample)`,
        });
      }
      for (const k of ['mode', 'threshold'] as const) {
        if (c.feedback[k] !== undefined)
          out.push({
            path: ['feedback', k],
            message: `the pairwise judge picks and decides the pairs itself: remove feedback.${k} (pairs are chosen by labeler.pairing)`,
          });
      }
    } else {
      for (const k of ['pairing', 'maxPairsPerPrompt', 'swap'] as const) {
        if (raw?.[k] !== undefined) out.push({ path: ['labeler', k], message: `labeler.${k} applies to mode: pairwise only` });
      }
    }
    if (l.template && !fs.existsSync(l.template)) out.push({ path: ['labeler', 'template'], message: `template file not found: ${l.template}` });
    else {
      try {
        loadTemplate(l.template, l.mode);
      } catch (e) {
        out.push({ path: ['labeler', 'template'], message: (e as Error).message });
      }
    }
    return out;
  },
  async preflight(l, _c, o) {
    await checkEndpoint('judge', l, o);
    return [];
  },
};
