import { ScoredSample, ScoredSampleCollector } from '../../activities/feedback/scored-samples';

/** Build groups from compact specs: { p1: [0.1, null, 0.5] } -> scored samples in that order. */
export function groupsOf(spec: Record<string, (number | null | 'nan')[]>): Map<string, ScoredSample[]> {
  const c = new ScoredSampleCollector('test.jsonl');
  let line = 0;
  for (const [pid, rewards] of Object.entries(spec)) {
    rewards.forEach((r, i) => {
      const text = `{"prompt_id":${JSON.stringify(pid)},"sample_id":${i},"prompt":[{"role":"user","content":${JSON.stringify(`q ${pid}`)}}],"output":"a${i}","reward":${
        r === 'nan' ? 'NaN' : JSON.stringify(r)
      }${r === null ? ',"label_status":"judge_failed"' : ''},"iteration":0}`;
      c.addLine(text, ++line);
    });
  }
  return c.groups;
}
