/** The held-out prompts of `eval:`: none may be a training prompt (the same prompt hash). */
import { loadPrompts } from '../prompts';

/** The lines of the eval file whose prompt is also in the training file. */
export async function overlappingPrompts(trainFile: string, evalFile: string): Promise<number[]> {
  const train = new Set((await loadPrompts(trainFile)).map((p) => p.prompt_id));
  const lines: number[] = [];
  await loadPrompts(evalFile, (p, line) => {
    if (train.has(p.prompt_id)) lines.push(line);
  });
  return lines;
}
