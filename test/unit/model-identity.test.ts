import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fingerprint } from '../../activities/artifacts/fingerprint';
import { modelFingerprint } from '../../activities/score/model-fingerprint';
import { closeCachedSessions } from '../../activities/score/ort-session';
import { scoreFile } from '../../activities/score/score-file';
import { RewardScorer } from '../../activities/score/scorer';
import { MODELS, quickstartSamples, tmpDir, writeJsonl } from '../helpers/paths';

jest.setTimeout(120000);
afterAll(closeCachedSessions);

const BENCH_RM = path.join(path.dirname(MODELS.decoder), 'bench-rm');

/**
 * A Hugging Face hub cache entry as `huggingface_hub` lays it out: blobs/<sha256> holds each file's
 * bytes, snapshots/<revision>/<name> is a relative symbolic link into blobs/.
 */
function hubCache(src: string): { snapshot: string; blobs: string; link: (name: string, bytes: Buffer) => void } {
  const repo = path.join(tmpDir('alignloop-hub-'), 'models--acme--tiny-rm');
  const blobs = path.join(repo, 'blobs');
  const snapshot = path.join(repo, 'snapshots', '0123456789abcdef0123456789abcdef01234567');
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(snapshot, { recursive: true });
  const link = (name: string, bytes: Buffer) => {
    const sha = createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(path.join(blobs, sha), bytes);
    fs.rmSync(path.join(snapshot, name), { force: true });
    fs.symlinkSync(path.join('..', '..', 'blobs', sha), path.join(snapshot, name));
  };
  for (const name of fs.readdirSync(src)) link(name, fs.readFileSync(path.join(src, name)));
  return { snapshot, blobs, link };
}

const rewardsOf = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).reward as number);

describe('model fingerprints follow symbolic links', () => {
  test('a hub snapshot (every file a link into blobs/) has the identity of its files, and a swapped blob changes it', () => {
    const hub = hubCache(MODELS.bt);
    expect(fs.readdirSync(hub.snapshot).every((n) => fs.lstatSync(path.join(hub.snapshot, n)).isSymbolicLink())).toBe(true);
    const copied = fingerprint(MODELS.bt);
    const linked = fingerprint(hub.snapshot);
    expect(Object.keys(linked.files).sort()).toEqual(['config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    expect(linked.files).toEqual(copied.files);
    expect(linked.sha256).toBe(copied.sha256);
    expect(linked.links!['model.onnx']).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);

    // New weights under the same name (a new revision pulled into the same snapshot folder).
    hub.link('model.onnx', fs.readFileSync(path.join(BENCH_RM, 'model.onnx')));
    const swapped = modelFingerprint(hub.snapshot);
    expect(swapped.sha256).not.toBe(linked.sha256);
    expect(swapped.files['model.onnx']).toBe(fingerprint(path.join(BENCH_RM, 'model.onnx')).files['model.onnx']);
  });

  test('labeler.modelFile and labeler.chatTemplate outside the folder are part of the identity', () => {
    const dir = tmpDir('alignloop-fp-');
    const folder = path.join(dir, 'rm');
    fs.cpSync(MODELS.bt, folder, { recursive: true });
    fs.renameSync(path.join(folder, 'model.onnx'), path.join(dir, 'graph.onnx'));
    fs.writeFileSync(path.join(dir, 'graph.onnx_data'), 'external weights');
    fs.writeFileSync(path.join(dir, 'template.jinja'), '{{ messages[0].content }}');
    const opts = { modelFile: '../graph.onnx', chatTemplate: path.join(dir, 'template.jinja') };
    const fp = modelFingerprint(folder, opts);
    expect(Object.keys(fp.files)).toEqual(
      expect.arrayContaining([path.join(dir, 'graph.onnx'), path.join(dir, 'graph.onnx_data'), path.join(dir, 'template.jinja')]),
    );
    for (const [file, bytes] of [
      ['graph.onnx_data', 'other external weights'],
      ['template.jinja', '{{ messages[-1].content }}'],
    ]) {
      const before = modelFingerprint(folder, opts).sha256;
      fs.writeFileSync(path.join(dir, file), bytes);
      expect({ file, changed: modelFingerprint(folder, opts).sha256 !== before }).toEqual({ file, changed: true });
    }
  });

  test('an empty folder, or one of dangling links only, is refused', () => {
    const empty = tmpDir('alignloop-fp-');
    expect(() => modelFingerprint(empty)).toThrow(/no files to fingerprint/);
    const dangling = tmpDir('alignloop-fp-');
    fs.symlinkSync(path.join(dangling, 'gone'), path.join(dangling, 'model.onnx'));
    const fp = fingerprint(dangling);
    expect(fp.files['model.onnx']).toMatch(/^dangling-link:/);
  });

  test('a reward model scored through a hub snapshot gives the same rewards as its folder', async () => {
    const dir = tmpDir('alignloop-fp-');
    const input = path.join(dir, 'in.jsonl');
    writeJsonl(input, quickstartSamples(4));
    const hub = hubCache(MODELS.bt);
    await scoreFile(await RewardScorer.open({ modelDir: MODELS.bt, threads: 1, tokenizerThreads: 0 }), input, path.join(dir, 'a.jsonl'));
    const viaHub = await RewardScorer.open({ modelDir: hub.snapshot, threads: 1, tokenizerThreads: 0 });
    expect(viaHub.fingerprint.sha256).toBe(fingerprint(MODELS.bt).sha256);
    await scoreFile(viaHub, input, path.join(dir, 'b.jsonl'));
    expect(rewardsOf(path.join(dir, 'b.jsonl'))).toEqual(rewardsOf(path.join(dir, 'a.jsonl')));
  });
});
