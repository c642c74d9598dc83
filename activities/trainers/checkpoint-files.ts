/**
 * Which files of a trainer's output become the accepted checkpoint: what the next sampler and trainer
 * read (weights, config, tokenizer, chat template), not the trainer's own state (HALOs' optimizer.pt is
 * about twice the weights). Pure.
 */

/** The trainer's resume state: kept only when trainer.keepOptimizerState asks for it. */
const OPTIMIZER_STATE = /^(optimizer\.pt|scheduler\.pt|metrics\.json)$/;

const KEPT = [
  /^config\.json$/,
  /^generation_config\.json$/,
  // Weights (single or sharded, with their index), LoRA adapters included.
  /\.safetensors$/,
  /\.safetensors\.index\.json$/,
  /^(pytorch_model|adapter_model|model)(-\d+-of-\d+)?\.bin$/,
  /^pytorch_model\.bin\.index\.json$/,
  /^adapter_config\.json$/,
  // Tokenizer and chat template.
  /^tokenizer(_config)?\.json$/,
  /^tokenizer\.model$/,
  /^(special_tokens_map|added_tokens)\.json$/,
  /^(vocab\.(json|txt)|merges\.txt|spiece\.model)$/,
  /^chat_template\.(jinja|json)$/,
  // Code a config.json's auto_map names (trust_remote_code models).
  /^[\w-]+\.py$/,
];

/** Splits the names in a trainer's output folder (files and folders) into those to keep and those to drop. */
export function checkpointFiles(names: string[], keepOptimizerState: boolean): { keep: string[]; drop: string[] } {
  const keep: string[] = [];
  const drop: string[] = [];
  for (const n of names) {
    const wanted = KEPT.some((r) => r.test(n)) || (keepOptimizerState && OPTIMIZER_STATE.test(n));
    (wanted ? keep : drop).push(n);
  }
  return { keep, drop };
}
