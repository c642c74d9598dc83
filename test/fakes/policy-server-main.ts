/**
 * The fake policy server as a process, started by `sampler.kind: managed` in tests the way vLLM would
 * be: `node policy-server-main.js MODEL_DIR --port N --served-model-name NAME [options]`. Like a real
 * server it refuses a model folder without config.json, logs to stdout, takes a while to load
 * (503 "Loading model" meanwhile), and shuts down on SIGTERM.
 *
 *   --candidates FILE     answer from the prompts file's candidate pools (quickstart prompts)
 *   --served-log FILE     append one line per sample served (counts requests across restarts)
 *   --loading-ms N        answer 503 for N ms after start (default 300); a huge N never gets ready
 *   --latency-ms N        per-request latency
 *   --fail-at-start       print an error and exit 3 at once (a bad flag, an OOM at load)
 *   --ignore-sigterm      keep running on SIGTERM (alignloop must SIGKILL the group)
 *   --spawn-child         start a child process in the same group (as vLLM's engine workers)
 *   --like-transformers-serve  answer as `transformers serve MODEL_DIR` does: the model served under
 *                         its path, /v1/models a 500, `n` ignored
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FakePolicyServer } from './openai-policy-server';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(name);

async function main(): Promise<void> {
  const modelDir = process.argv[2];
  console.log(`fake-policy-server: loading ${modelDir}`);
  if (flag('--fail-at-start')) {
    console.error('fake-policy-server: error: CUDA out of memory while loading the model (simulated)');
    process.exit(3);
  }
  if (!modelDir || !fs.existsSync(path.join(modelDir, 'config.json'))) {
    console.error(`fake-policy-server: error: ${modelDir} has no config.json`);
    process.exit(2);
  }
  const candidates = new Map<string, string[]>();
  const cfile = arg('--candidates');
  if (cfile) {
    for (const l of fs.readFileSync(cfile, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(l);
      const text = typeof r.prompt === 'string' ? r.prompt : r.prompt.filter((t: { role: string }) => t.role === 'user').at(-1).content;
      candidates.set(text, r.candidates);
    }
  }
  const servedLog = arg('--served-log');
  const server = new FakePolicyServer({
    port: Number(arg('--port') ?? 0),
    models: [flag('--like-transformers-serve') ? modelDir : (arg('--served-model-name') ?? modelDir)],
    like: flag('--like-transformers-serve') ? 'transformers-serve' : 'vllm',
    candidates,
    latencyMs: Number(arg('--latency-ms') ?? 0),
    onServe: servedLog ? (k) => fs.appendFileSync(servedLog, JSON.stringify(k) + '\n') : undefined,
  });
  server.ready = false;
  await server.start();
  console.log(`fake-policy-server: listening at ${server.baseURL}, pid ${process.pid}`);
  setTimeout(
    () => {
      server.ready = true;
      console.log('fake-policy-server: model loaded, ready');
    },
    Number(arg('--loading-ms') ?? 300),
  ).unref();
  if (flag('--spawn-child')) spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  process.on('SIGTERM', () => {
    console.log('fake-policy-server: SIGTERM');
    if (flag('--ignore-sigterm')) return;
    void server.stop().then(() => process.exit(0));
  });
  setInterval(() => undefined, 1 << 30);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
