#!/usr/bin/env bash
# npm run e2e:halos: the halos preset run for real, with HALOs' own code and pins; opt-in (not part of npm test).
#
#   HALOS_DIR=/path/to/your/HALOs/checkout npm run e2e:halos
#
#   a tiny random-weight Llama (scripts/build_tiny_lm.py, built with HALOs' transformers)
#   -> sampled by `transformers serve`, which alignloop starts per iteration (managed sampler)
#   -> labelled by the quickstart ONNX reward model
#   -> trained by HALOs' launch.py with the preset's real argv (accelerate launch launch.py loss=… ++model.…)
#   DPO (pairwise, reference: previous), KTO (binary, reference: initial with keepOptimizerState) and
#   GRPO (pairwise, reference: previous), two iterations each; the DPO campaign's trainer is SIGKILLed
#   after its first logged step and the attempt is retried. Then verify, history and the checks below.
#
# Your checkout is never modified: it is copied to $E2E_DIR/halos and the copy gets the two-line
# single-device change launch.py needs to run in one process (accelerate 0.33 sets
# `accelerator.state.fsdp_plugin` only under FSDP; launch.py reads it unconditionally).
#
# Environments (created on the first run, reused after):
#   $E2E_DIR/halos-venv  HALOs' pins from its install.sh (torch 2.4.0, transformers 4.51.3, accelerate 0.33.0,
#                        peft 0.12.0, datasets 2.20.0, hydra-core 1.3.2, wandb, openai; pyarrow<17 and numpy<2,
#                        which datasets 2.20 / torch 2.4 need); flash-attn and vllm left out (GPU-only).
#                        E2E_HALOS_PYTHON=/path/to/python uses an environment you have.
#   the sampler          `transformers serve` needs transformers >= 5 (not HALOs' 4.51): E2E_SERVE_PYTHON, else
#                        .e2e/venv of `npm run e2e:real` if present, else $E2E_DIR/serve-venv with its pins.
# Runs on CPU (float32 and small batches are passed as extra Hydra overrides); torch from PyPI pulls
# several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
E2E_DIR=${E2E_DIR:-$ROOT/.e2e-halos}
ITERATIONS=${E2E_ITERATIONS:-2}
METHODS=${E2E_METHODS:-dpo kto grpo}
mkdir -p "$E2E_DIR"
E2E_DIR=$(cd "$E2E_DIR" && pwd)
log() { printf '\n== %s\n' "$*"; }
fail() {
  echo "e2e:halos: FAILED: $*" >&2
  exit 1
}

[ -n "${HALOS_DIR:-}" ] || fail "set HALOS_DIR to a HALOs checkout (https://github.com/ContextualAI/HALOs)"
[ -f "$HALOS_DIR/launch.py" ] && [ -d "$HALOS_DIR/config" ] || fail "$HALOS_DIR has no launch.py and config/: not a HALOs checkout"

log "copying $HALOS_DIR to $E2E_DIR/halos and applying the single-device change"
rm -rf "$E2E_DIR/halos"
mkdir -p "$E2E_DIR/halos"
(cd "$HALOS_DIR" && tar --exclude=.git --exclude=outputs --exclude=.cache -cf - .) | (cd "$E2E_DIR/halos" && tar -xf -)
sed -i \
  -e 's/if accelerator\.state\.fsdp_plugin is not None:/if getattr(accelerator.state, "fsdp_plugin", None) is not None:/' \
  -e 's/if reference_accelerator\.state\.fsdp_plugin is not None:/if getattr(reference_accelerator.state, "fsdp_plugin", None) is not None:/' \
  "$E2E_DIR/halos/launch.py"
[ "$(grep -c 'getattr(.*accelerator.state, "fsdp_plugin", None)' "$E2E_DIR/halos/launch.py")" = 2 ] ||
  fail "the single-device change did not apply to launch.py (another HALOs version?); see the comment at the top of this script"

if [ -n "${E2E_HALOS_PYTHON:-}" ]; then
  HALOS_BIN=$(dirname "$E2E_HALOS_PYTHON")
else
  HALOS_BIN=$E2E_DIR/halos-venv/bin
  if [ ! -x "$HALOS_BIN/accelerate" ]; then
    log "creating $E2E_DIR/halos-venv with HALOs' pins"
    python3 -m venv "$E2E_DIR/halos-venv"
    "$HALOS_BIN/pip" install -q "torch==2.4.0" "transformers==4.51.3" "peft==0.12.0" "datasets==2.20.0" "accelerate==0.33.0" \
      "hydra-core==1.3.2" omegaconf wandb openai "pyarrow<17" "numpy<2"
  fi
fi
if [ -n "${E2E_SERVE_PYTHON:-}" ]; then
  SERVE_BIN=$(dirname "$E2E_SERVE_PYTHON")
elif [ -x "$ROOT/.e2e/venv/bin/transformers" ]; then
  SERVE_BIN=$ROOT/.e2e/venv/bin
else
  SERVE_BIN=$E2E_DIR/serve-venv/bin
  if [ ! -x "$SERVE_BIN/transformers" ]; then
    log "creating $E2E_DIR/serve-venv for the sampler (torch 2.11.0, transformers[serving] 5.17.0)"
    python3 -m venv "$E2E_DIR/serve-venv"
    "$SERVE_BIN/pip" install -q "torch==2.11.0" "transformers[serving]==5.17.0" requests
  fi
fi
for tool in "$HALOS_BIN/python3" "$HALOS_BIN/accelerate" "$SERVE_BIN/transformers"; do
  [ -x "$tool" ] || fail "$tool not found"
done
"$HALOS_BIN/python3" -c "import torch, transformers, accelerate, hydra, datasets; print('HALOs env: torch', torch.__version__, '| transformers', transformers.__version__, '| accelerate', accelerate.__version__, '| datasets', datasets.__version__)"

log "building the tiny causal LM (with HALOs' transformers, so both it and the server load it)"
rm -rf "$E2E_DIR/policy" "$E2E_DIR/artifacts"
"$HALOS_BIN/python3" scripts/build_tiny_lm.py "$E2E_DIR/policy"

log "building alignloop and the Temporal CLI"
[ -f dist/cli/main.js ] || npm run build --silent
bash scripts/ensure-temporal.sh

# A dev server for the run: `alignloop start` and a separately started worker (so the trainer can be killed mid-step).
DB=$E2E_DIR/temporal.db
rm -f "$DB"
PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
TEMPORAL=${ALIGNLOOP_TEMPORAL_BIN:-$ROOT/.tools/bin/temporal}
"$TEMPORAL" server start-dev --db-filename "$DB" --ip 127.0.0.1 --port "$PORT" --headless --log-level warn >"$E2E_DIR/temporal.log" 2>&1 &
SERVER=$!
WORKER=
cleanup() {
  [ -n "$WORKER" ] && kill "$WORKER" 2>/dev/null || true
  kill "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT
export TEMPORAL_ADDRESS=127.0.0.1:$PORT
for _ in $(seq 1 120); do node dist/cli/main.js list >/dev/null 2>&1 && break || sleep 1; done

export PATH="$HALOS_BIN:$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 WANDB_MODE=disabled
node dist/cli/main.js worker >"$E2E_DIR/worker.log" 2>&1 &
WORKER=$!

# HALOs on a CPU: float32, small batches and lengths; its model config is llama (attn flash_attention_2 -> eager in float32).
CPU_ARGS='"++model.policy_dtype=float32", "++model.reference_dtype=float32", "++model.batch_size=2", "++model.eval_batch_size=2", "++model.gradient_accumulation_steps=1", "++model.max_length=160", "++model.max_prompt_length=96", "++model.activation_checkpointing=false", "++n_eval_examples=4", "++lr=1e-4"'

campaign() { # method feedback reference-settings
  cat >"$E2E_DIR/$1.yaml" <<EOF
# Written by scripts/e2e-halos.sh.
name: e2e-halos-$1
iterations: $ITERATIONS
prompts: { path: $ROOT/examples/quickstart/prompts.jsonl, perIteration: 16, seed: 0 }
policy: { path: $E2E_DIR/policy, name: tiny-lm }
sampler:
  kind: managed
  command: ["$SERVE_BIN/transformers", "serve", "{{policy.path}}", "--host", "127.0.0.1", "--port", "{{port}}"]
  model: "{{policy.path}}"
  samplesPerPrompt: 2
  maxTokens: 24
  temperature: 1.0
  dropTruncated: false
  readyTimeoutSeconds: 300
labeler: { kind: reward-model, model: $ROOT/examples/quickstart/reward-model, provider: cpu }
feedback: $2
trainer:
  kind: command
  preset: halos
  workDir: $E2E_DIR/halos
  method: $1
  model: llama
  beta: 0.1
  $3
  extraArgs: [$CPU_ARGS]
  stallSeconds: 600
artifacts: { root: $E2E_DIR/artifacts }
EOF
}

declare -A WALL
for method in $METHODS; do
  case $method in
    dpo) campaign dpo '{ type: pairwise, mode: max, threshold: 0.0, seed: 0 }' 'reference: previous' ;;
    kto) campaign kto '{ type: binary, threshold: median, seed: 0 }' 'reference: initial
  keepOptimizerState: true' ;;
    grpo) campaign grpo '{ type: pairwise, mode: max, threshold: 0.0, seed: 0 }' 'reference: previous' ;;
    *) fail "unknown method $method" ;;
  esac
  id="e2e-halos-$method-$(date +%s)"
  log "$method: validate, start $id"
  node dist/cli/main.js validate "$E2E_DIR/$method.yaml"
  start=$(date +%s)
  node dist/cli/main.js start "$E2E_DIR/$method.yaml" --id "$id" >/dev/null
  train_log=$E2E_DIR/artifacts/$id/iter-000/train/trainer.log
  # What `status --watch` shows while it runs (a line per change when not on a terminal): the trainer's step, loss and rate.
  node dist/cli/main.js status "$id" --watch --interval 0.5 >"$E2E_DIR/$method.watch.txt" 2>&1 &
  if [ "$method" = dpo ]; then
    # SIGKILL the trainer's process group (accelerate and the launch.py process) once it has logged a step.
    for _ in $(seq 1 6000); do grep -q 'train stats after 1 steps' "$train_log" 2>/dev/null && break || sleep 0.1; done
    grep -q 'train stats after 1 steps' "$train_log" || fail "$method: the trainer logged no step"
    rec=$(ls "$E2E_DIR/artifacts/$id/processes/"*/trainer-*.json | head -1)
    pid=$(basename "$rec" .json | sed 's/^trainer-//')
    echo "SIGKILL to the trainer's process group $pid"
    kill -9 -- "-$pid"
  fi
  for _ in $(seq 1 3600); do
    state=$(node dist/cli/main.js status "$id" --json 2>/dev/null | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{try{console.log(JSON.parse(s).state)}catch{console.log('?')}})")
    case $state in completed) break ;; failed-paused | failed | terminated) node dist/cli/main.js status "$id" || true; fail "$method: campaign $state" ;; esac
    sleep 1
  done
  [ "$state" = completed ] || fail "$method: did not complete"
  WALL[$method]=$(($(date +%s) - start))
  echo "$method: campaign wall time ${WALL[$method]} s"
  node dist/cli/main.js verify "$id" --root "$E2E_DIR/artifacts"
  node dist/cli/main.js history "$id" --root "$E2E_DIR/artifacts"
  node - "$E2E_DIR/artifacts/$id" "$ITERATIONS" "$method" "$E2E_DIR/halos" <<'EOF'
const fs = require('fs'), path = require('path');
const [dir, n, method, halos] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const read = (...p) => JSON.parse(fs.readFileSync(path.join(dir, ...p), 'utf8'));
const fail = (m) => { console.error(`e2e:halos: FAILED: ${method}: ${m}`); process.exit(1); };
const initial = read('initial', 'checkpoint.json');
let parent = initial;
for (let i = 0; i < n; i++) {
  const it = `iter-${String(i).padStart(3, '0')}`;
  const c = read(it, 'train', 'checkpoint.json');
  if (c.trainer?.argv?.[2] !== 'launch.py' || c.trainer.argv[3] !== `loss=${method}`) fail(`${it}: not trained by launch.py loss=${method}: ${JSON.stringify(c.trainer?.argv)}`);
  if (!fs.existsSync(path.join(c.path, 'pytorch_model.bin'))) fail(`${it}: no pytorch_model.bin in ${c.path}`);
  const kept = fs.existsSync(path.join(c.path, 'optimizer.pt'));
  if (kept !== (method === 'kto')) fail(`${it}: optimizer.pt ${kept ? 'kept' : 'not kept'}`);
  const log = fs.readFileSync(path.join(dir, it, 'train', 'trainer.log'), 'utf8');
  const reference = method === 'kto' ? initial.path : parent.path;
  if (!log.includes(`Loading reference model from ${reference}\n`)) fail(`${it}: the reference was not ${reference}`);
  if (!log.includes(`Loading policy from ${parent.path}\n`)) fail(`${it}: the policy did not start from ${parent.path}`);
  const serverDir = path.join(dir, it, 'samples', 'server');
  const started = fs.readdirSync(serverDir).map((f) => fs.readFileSync(path.join(serverDir, f), 'utf8')).join('\n');
  if (!started.includes(parent.path)) fail(`${it}: the server was not started on ${parent.path}`);
  const m = read(it, 'manifest.json');
  const [first, last] = [m.train?.first_loss ?? m.train?.firstLoss, m.train?.last_loss ?? m.train?.lastLoss];
  if (typeof last !== 'number') fail(`${it}: no loss read from HALOs' log`);
  console.log(`${it}: sampled from ${parent.path}; HALOs ${method} loss ${first} -> ${last}; attempt ${c.attempt}; checkpoint ${c.path}`);
  if (method === 'dpo' && i === 0 && c.attempt < 2) fail(`${it}: the SIGKILLed attempt was not retried (attempt ${c.attempt})`);
  parent = c;
}
if (fs.existsSync(path.join(halos, 'outputs'))) fail(`Hydra wrote ${path.join(halos, 'outputs')} into the checkout`);
console.log(`e2e:halos: ${method} OK`);
EOF
done
for method in $METHODS; do
  grep -q 'train .*(step [0-9]' "$E2E_DIR/$method.watch.txt" || fail "$method: status --watch never showed the trainer's step: $(tail -5 "$E2E_DIR/$method.watch.txt")"
  grep 'train .*(step [0-9]' "$E2E_DIR/$method.watch.txt" | tail -1
done
log "timings"
for method in $METHODS; do echo "$method: ${WALL[$method]} s for $ITERATIONS iterations"; done
echo "e2e:halos: OK"
