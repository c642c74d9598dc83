/**
 * The three reward-server protocols: the request for a batch of rendered conversations, and the
 * rewards read from the reply. Pure. A reply that does not hold one finite reward per text is
 * malformed (retried); a vLLM reply that applied its classify activation to a one-label reward model
 * (every score 1.0) is a configuration error, since retrying cannot fix it.
 */
import { MalformedReply } from '../../openai/call-errors';
import type { RewardServerConfig } from '../../labelers/reward-server/config';

export class SquashedRewards extends Error {}

export function endpointPath(protocol: RewardServerConfig['protocol']): string {
  return protocol === 'openrlhf' ? '/get_reward' : '/classify';
}

export function requestBody(c: RewardServerConfig, texts: string[]): Record<string, unknown> {
  switch (c.protocol) {
    case 'vllm':
      // Activation off so a one-logit model's score is its logit (`use_activation` in current vLLM; `activation` in
      // the 0.10-0.11 releases that introduced per-request control). With the model's tokenizer config the template
      // writes BOS itself; with a bare template file (bos_token unknown) the server adds its special tokens.
      return { model: c.model, input: texts, use_activation: false, activation: false, add_special_tokens: !c.tokenizer };
    case 'sglang':
      return { model: c.model, text: texts };
    case 'openrlhf':
      return { query: texts };
  }
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function parseRewards(c: RewardServerConfig, body: unknown, n: number): (number | null)[] {
  const bad = (why: string) => new MalformedReply(`${c.baseURL}${endpointPath(c.protocol)} answered HTTP 200 but ${why}`, null);
  if (body === null || typeof body !== 'object') throw bad('the body is not JSON');
  const b = body as Record<string, unknown>;
  if (b.error || b.object === 'error') throw bad(`the body is an error: ${JSON.stringify(b.error ?? b.message).slice(0, 200)}`);
  let rewards: unknown[];
  if (c.protocol === 'vllm') {
    const data = b.data as { index?: number; probs?: unknown[]; num_classes?: number }[] | undefined;
    if (!Array.isArray(data)) throw bad('it has no data list');
    const sorted = [...data].sort((x, y) => (x.index ?? 0) - (y.index ?? 0));
    const classes = sorted[0]?.probs?.length ?? 0;
    const index = c.rewardIndex ?? (classes === 2 ? 1 : 0);
    if (classes > 0 && index >= classes) throw new SquashedRewards(`labeler.rewardIndex ${index} is out of range: the model has ${classes} labels`);
    rewards = sorted.map((d) => (Array.isArray(d.probs) ? d.probs[index] : undefined));
    if (classes === 1 && rewards.length > 1 && rewards.every((r) => r === 1)) {
      throw new SquashedRewards(
        `every reward from ${c.baseURL} is exactly 1.0: the server applied its classify activation to a one-label reward model; ` +
          `use a vLLM with per-request activation control, or start it with --pooler-config '{"use_activation": false}' ` +
          `(older releases: --override-pooler-config '{"softmax": false}')`,
      );
    }
  } else if (c.protocol === 'sglang') {
    const list = Array.isArray(body) ? body : [body];
    rewards = list.map((x) => (Array.isArray((x as { embedding?: unknown[] })?.embedding) ? (x as { embedding: unknown[] }).embedding[0] : undefined));
  } else {
    rewards = Array.isArray(b.rewards) ? b.rewards : [];
  }
  if (rewards.length !== n) throw bad(`it holds ${rewards.length} rewards for ${n} texts`);
  // null (a NaN the server could not put in JSON) leaves that item unlabelled; anything else is garbage.
  const k = rewards.findIndex((r) => r !== null && !finite(r));
  if (k >= 0) throw bad(`reward ${k} is ${JSON.stringify(rewards[k])}, not a number`);
  return rewards as (number | null)[];
}
