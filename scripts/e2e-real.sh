#!/usr/bin/env bash
# npm run e2e:real: one real campaign with real tools, opt-in (not part of npm test).
#
#   a tiny random-weight causal LM built by scripts/build_tiny_lm.py
#   -> sampled by a real OpenAI-compatible server alignloop starts per iteration (`transformers serve`)
#   -> labelled by the quickstart ONNX reward model
#   -> trained by the real TRL CLI (`trl dpo`, the trl preset), whose checkpoint the next iteration samples from
#   -> checked: verify, lineage, the second iteration's server loaded the first checkpoint.
#
# The first run creates a Python environment in $E2E_DIR/venv with pinned versions (torch from PyPI:
# several GB with its CUDA libraries, a few minutes on a fast mirror). E2E_PYTHON=/path/to/python uses
# an existing environment instead (it needs torch, transformers[serving], trl, datasets, accelerate).
# Runs on CPU; on a GPU machine the server and TRL use the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
ITERATIONS=${E2E_ITERATIONS:-2}
mkdir -p "$E2E_DIR"
E2E_DIR=$(cd "$E2E_DIR" && pwd)
log() { printf '\n== %s\n' "$*"; }

if [ -n "${E2E_PYTHON:-}" ]; then
  BIN=$(dirname "$E2E_PYTHON")
else
  BIN=$E2E_DIR/venv/bin
  if [ ! -x "$BIN/trl" ] || [ ! -x "$BIN/transformers" ]; then
    log "creating $E2E_DIR/venv (torch 2.11.0, transformers 5.17.0, trl 1.16.0, datasets 5.2.0)"
    python3 -m venv "$E2E_DIR/venv"
    "$BIN/pip" install -q "torch==2.11.0" "transformers[serving]==5.17.0" "trl==1.16.0" "datasets==5.2.0" "accelerate>=1.10" requests
  fi
fi
for tool in python3 trl transformers; do
  [ -x "$BIN/$tool" ] || { echo "e2e:real: $BIN/$tool not found (E2E_PYTHON must be the python of an environment with trl and transformers[serving])" >&2; exit 2; }
done
"$BIN/python3" -c "import torch, transformers, trl; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, '| trl', trl.__version__)"

# TRL 1.x trains in bf16 by default, which needs a GPU: on a CPU-only machine say so.
DEVICE_ARGS=$("$BIN/python3" -c "import torch; print('' if torch.cuda.is_available() else ', \"--use_cpu\", \"true\", \"--bf16\", \"false\"')")

log "building the tiny causal LM"
rm -rf "$E2E_DIR/policy" "$E2E_DIR/artifacts"
"$BIN/python3" scripts/build_tiny_lm.py "$E2E_DIR/policy"

log "building alignloop and the Temporal CLI"
[ -f dist/cli/main.js ] || npm run build --silent
bash scripts/ensure-temporal.sh

cat > "$E2E_DIR/campaign.yaml" <<EOF
# Written by scripts/e2e-real.sh.
name: e2e-real
iterations: $ITERATIONS
prompts: { path: $ROOT/examples/quickstart/prompts.jsonl, perIteration: 16, seed: 0 }
policy: { path: $E2E_DIR/policy, name: tiny-lm }
sampler:
  kind: managed
  command: ["$BIN/transformers", "serve", "{{policy.path}}", "--host", "127.0.0.1", "--port", "{{port}}"]
  model: "{{policy.path}}"      # transformers serve serves the model under its path
  samplesPerPrompt: 2
  maxTokens: 24
  temperature: 1.0
  dropTruncated: false          # random weights never end an answer: keep the cut ones
  readyTimeoutSeconds: 300
labeler: { kind: reward-model, model: $ROOT/examples/quickstart/reward-model, provider: cpu }
feedback: { type: pairwise, mode: max, threshold: 0.0, seed: 0 }
trainer:
  kind: command
  preset: trl
  method: dpo
  beta: 0.1
  reference: previous
  extraArgs: ["--per_device_train_batch_size", "4", "--learning_rate", "5e-5", "--num_train_epochs", "1"$DEVICE_ARGS]
  stallSeconds: 600
artifacts: { root: $E2E_DIR/artifacts }
EOF

log "running the campaign"
export PATH="$BIN:$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
start=$(date +%s)
node dist/cli/main.js run "$E2E_DIR/campaign.yaml" --id "e2e-real-$start"
id="e2e-real-$start"
echo "campaign wall time: $(( $(date +%s) - start )) s"

log "verify, history"
node dist/cli/main.js verify "$id" --root "$E2E_DIR/artifacts"
node dist/cli/main.js history "$id" --root "$E2E_DIR/artifacts"

log "checks"
node - "$E2E_DIR/artifacts/$id" "$ITERATIONS" <<'EOF'
const fs = require('fs'), path = require('path');
const [dir, n] = [process.argv[2], Number(process.argv[3])];
const read = (...p) => JSON.parse(fs.readFileSync(path.join(dir, ...p), 'utf8'));
const fail = (m) => { console.error(`e2e:real: FAILED: ${m}`); process.exit(1); };
let parent = read('initial', 'checkpoint.json');
for (let i = 0; i < n; i++) {
  const it = `iter-${String(i).padStart(3, '0')}`;
  const c = read(it, 'train', 'checkpoint.json');
  if (c.trainer?.argv?.[0] !== 'trl' || c.trainer.argv[1] !== 'dpo') fail(`${it}: not trained by trl dpo: ${JSON.stringify(c.trainer)}`);
  if (!fs.existsSync(path.join(c.path, 'model.safetensors'))) fail(`${it}: no model.safetensors in ${c.path}`);
  // The server alignloop started for this iteration was given the parent checkpoint's folder.
  const serverDir = path.join(dir, it, 'samples', 'server');
  const started = fs.readdirSync(serverDir).map((f) => fs.readFileSync(path.join(serverDir, f), 'utf8')).join('\n');
  if (!started.includes(JSON.stringify(parent.path).slice(1, -1))) fail(`${it}: the server was not started on ${parent.path}`);
  const m = read(it, 'manifest.json');
  console.log(`${it}: sampled from ${parent.path}; trl dpo loss ${m.train?.first_loss ?? m.train?.firstLoss} -> ${m.train?.last_loss ?? m.train?.lastLoss}; checkpoint ${c.path}`);
  parent = c;
}
console.log('e2e:real: OK');
EOF
