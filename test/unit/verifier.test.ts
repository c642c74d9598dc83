/** The verifier labeler: the shipped math checker as a real subprocess, and verifiers that crash, hang or print garbage. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessFailed } from '../../config/errors';
import { VerifierLabelerSchema, verifierProblems } from '../../activities/labelers/verifier/config';
import { verifierIdentity, verifyFile } from '../../activities/labelers/verifier/run-verifier';
import { parseVerdicts, VerdictError } from '../../activities/labelers/verifier/verdicts';
import { sha256File } from '../../activities/artifacts/atomic-file';
import { ROOT, tmpDir } from '../helpers/paths';

jest.setTimeout(60_000);

const EXAMPLE = path.join(ROOT, 'examples', 'composite');
const REWARDS = { passReward: 1, failReward: 0 };

function samplesFile(dir: string, outputs: [string, string][]): string {
  const file = path.join(dir, 'samples.jsonl');
  fs.writeFileSync(file, outputs.map(([q, o], i) => JSON.stringify({ prompt_id: `p${i >> 1}`, sample_id: i % 2, prompt: q, output: o }) + '\n').join(''));
  return file;
}

function verifier(command: string[], extra: Record<string, unknown> = {}) {
  return VerifierLabelerSchema.parse({ kind: 'verifier', command, workDir: EXAMPLE, ...extra });
}

function run(dir: string) {
  const beats: unknown[] = [];
  return { setting: 'labeler', campaignDir: dir, workDir: path.join(dir, 'run'), credentials: ['SECRET_KEY'], heartbeat: (d: unknown) => beats.push(d), beats };
}

/** A verifier written in JavaScript, run with this Node. */
function script(dir: string, body: string): string[] {
  const file = path.join(dir, 'verifier.js');
  fs.writeFileSync(file, `const fs = require('fs'); const [inFile, outFile] = process.argv.slice(2);\n${body}\n`);
  return [process.execPath, file, '{{in}}', '{{out}}'];
}

describe('parseVerdicts', () => {
  test('scores, pass/fail and errors by index, in any order', () => {
    const v = parseVerdicts('{"index":2,"error":"no answer"}\n{"index":0,"pass":true}\n\n{"index":1,"score":0.25,"pass":false}\n', 3, REWARDS);
    expect(v).toEqual([
      { reward: 1, pass: true, error: null },
      { reward: 0.25, pass: false, error: null },
      { reward: null, pass: null, error: 'no answer' },
    ]);
  });
  test.each([
    ['not json', 'line 1 is not JSON'],
    ['{"index":0,"pass":true}\n{"index":0,"pass":false}', 'a second verdict for index 0'],
    ['{"index":5,"pass":true}', '"index" must be an integer from 0 to 1'],
    ['{"index":0,"score":"high"}\n{"index":1,"pass":true}', '"score" must be a finite number'],
    ['{"index":0}\n{"index":1,"pass":true}', 'needs "score", "pass" or "error"'],
    ['{"index":0,"pass":"yes"}\n{"index":1,"pass":true}', '"pass" must be true or false'],
    ['{"index":0,"pass":true,"reward":3}\n{"index":1,"pass":true}', 'unknown field reward'],
    ['{"index":0,"pass":true}', '1 of 2 samples have no verdict (indexes 1)'],
  ])('refuses %j', (text, message) => {
    expect(() => parseVerdicts(text, 2, REWARDS)).toThrow(VerdictError);
    expect(() => parseVerdicts(text, 2, REWARDS)).toThrow(message);
  });
});

describe('verifier settings', () => {
  test('the command must take {{in}} and {{out}} and no other placeholder', () => {
    const p = verifierProblems(verifier(['python3', 'check.py', '{{input}}']), ['labeler']).map((x) => `${x.path.join('.')}: ${x.message}`);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^labeler.command: unknown placeholder \{\{input\}\}; use \{\{in\}\}, \{\{out\}\}/),
        'labeler.command: the verifier must get {{in}} (the samples it reads) as an argument',
        'labeler.command: the verifier must get {{out}} (the file it writes its verdicts to) as an argument',
      ]),
    );
    expect(verifierProblems(verifier(['python3', 'check_math.py', '{{in}}', '{{out}}']), ['labeler'])).toEqual([]);
  });
  test('its identity is its argv and the sha256 of the script it names', () => {
    const id = verifierIdentity(verifier(['python3', 'check_math.py', '{{in}}', '{{out}}']));
    expect(id).toEqual({
      argv: ['python3', 'check_math.py', '{{in}}', '{{out}}'],
      files: { 'check_math.py': sha256File(path.join(EXAMPLE, 'check_math.py')) },
    });
  });
});

describe('verifyFile', () => {
  test('the shipped math checker passes right answers and fails wrong ones; a prompt without a question is unlabelled, not a number', async () => {
    const dir = tmpDir();
    const file = samplesFile(dir, [
      ['What is 12 + 30?', 'Step by step: 12 and 30 make 42.'],
      ['What is 12 + 30?', '41'],
      ['Compute 7 * 6.', 'The answer is 42.'],
      ['Compute 7 * 6.', 'I do not know.'],
      ['Tell me a joke.', '42'],
    ]);
    const r = run(dir);
    const out = await verifyFile(
      verifier(['python3', 'check_math.py', '{{in}}', '{{out}}'], { maxUnlabelledShare: 0.5 }),
      file,
      path.join(dir, 'scored.jsonl'),
      r,
    );
    expect(out).toMatchObject({ items: 5, labelled: 4, passed: 2, failed: 2, unlabelled: { verifier_error: 1 } });
    const recs = fs
      .readFileSync(out.path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.map((x) => [x.reward, x.label_status, x.verifier_pass])).toEqual([
      [1, 'ok', true],
      [0, 'ok', false],
      [1, 'ok', true],
      [0, 'ok', false],
      [null, 'verifier_error', undefined],
    ]);
    expect(recs[4].label_error).toBe('no arithmetic question in the prompt');
    expect(recs[0].prompt).toEqual([{ role: 'user', content: 'What is 12 + 30?' }]);
    expect(fs.readFileSync(path.join(dir, 'run', 'verifier.log'), 'utf8')).toContain('check_math: 5 samples checked');
    // no process record is left behind
    expect(fs.readdirSync(path.join(dir, 'processes')).flatMap((h) => fs.readdirSync(path.join(dir, 'processes', h)))).toEqual([]);
  });

  test('the verifier does not get the credentials the campaign names', async () => {
    const dir = tmpDir();
    const file = samplesFile(dir, [['What is 1 + 1?', '2']]);
    const cmd = script(dir, `fs.writeFileSync(outFile, JSON.stringify({ index: 0, score: process.env.SECRET_KEY ? 1 : 0.5 }) + '\\n');`);
    process.env.SECRET_KEY = 'sk-do-not-pass';
    try {
      const out = await verifyFile(verifier(cmd), file, path.join(dir, 'scored.jsonl'), run(dir));
      expect(JSON.parse(fs.readFileSync(out.path, 'utf8')).reward).toBe(0.5);
    } finally {
      delete process.env.SECRET_KEY;
    }
  });

  test('a verifier that crashes: a clear, non-retryable error with its log tail', async () => {
    const dir = tmpDir();
    const file = samplesFile(dir, [['What is 1 + 1?', '2']]);
    const cmd = script(dir, `console.error('Traceback: checker exploded on line 12'); process.exit(3);`);
    const p = verifyFile(verifier(cmd), file, path.join(dir, 'scored.jsonl'), run(dir));
    await expect(p).rejects.toThrow(ProcessFailed);
    await expect(verifyFile(verifier(cmd), file, path.join(dir, 'scored.jsonl'), run(dir))).rejects.toThrow(
      /labeler: the verifier exited with code 3 on 1 samples; fix it, then resume; last lines of .*verifier.log:\n.*checker exploded on line 12/s,
    );
    expect(fs.existsSync(path.join(dir, 'scored.jsonl'))).toBe(false);
  });

  test('a verifier that hangs is killed, with its whole process group, after timeoutSeconds', async () => {
    const dir = tmpDir();
    const file = samplesFile(dir, [['What is 1 + 1?', '2']]);
    const pidFile = path.join(dir, 'child.pid');
    // It starts a grandchild that would outlive it, then hangs.
    const cmd = script(
      dir,
      `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); fs.writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); setInterval(() => {}, 1000);`,
    );
    const r = run(dir);
    await expect(verifyFile(verifier(cmd, { timeoutSeconds: 1.5, stopTimeoutSeconds: 1 }), file, path.join(dir, 'scored.jsonl'), r)).rejects.toThrow(
      /labeler: the verifier did not finish 1 samples within labeler.timeoutSeconds \(1.5 s\); its process group was killed/,
    );
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    const alive = () => {
      try {
        process.kill(grandchild, 0);
        return !fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8').includes(') Z');
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(false);
    expect(r.beats.length).toBeGreaterThan(0);
  });

  test('a verifier that prints garbage, or too many errors, is refused: nothing becomes a reward', async () => {
    const dir = tmpDir();
    const file = samplesFile(dir, [
      ['What is 1 + 1?', '2'],
      ['What is 1 + 1?', '3'],
    ]);
    const garbage = script(dir, `fs.writeFileSync(outFile, 'PASS PASS\\n');`);
    await expect(verifyFile(verifier(garbage), file, path.join(dir, 'scored.jsonl'), run(dir))).rejects.toThrow(
      /labeler: the verifier's output .*out.jsonl is not valid: line 1 is not JSON: "PASS PASS"/,
    );
    const nothing = script(dir, ``);
    await expect(verifyFile(verifier(nothing), file, path.join(dir, 'scored.jsonl'), run(dir))).rejects.toThrow(/exited 0 but wrote nothing to \{\{out\}\}/);
    const errors = script(dir, `fs.writeFileSync(outFile, '{"index":0,"error":"timeout in sandbox"}\\n{"index":1,"pass":true}\\n');`);
    await expect(verifyFile(verifier(errors), file, path.join(dir, 'scored.jsonl'), run(dir))).rejects.toThrow(
      /answered "error" for 1 of 2 samples, above labeler.maxUnlabelledShare \(0.2\); first: timeout in sandbox/,
    );
    expect(fs.existsSync(path.join(dir, 'scored.jsonl'))).toBe(false);
  });
});
