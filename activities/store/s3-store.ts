/**
 * The artifact store on S3-compatible object storage, through the AWS SDK for JavaScript v3.
 * Credentials come from the SDK's default chain (environment, shared profile, instance or pod role),
 * never from the campaign. An object's sha256 travels in its metadata (x-amz-meta-sha256); large
 * files go up as parallel multipart uploads (lib-storage) and come down as parallel ranged GETs,
 * hashed in order as the parts arrive and pinned to one ETag, so a replaced object fails the
 * download instead of mixing versions.
 */
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ArtifactStore, GetOptions, PutOptions, PutOutcome, StoredObject } from './artifact-store';
import { StoreIntegrityError } from './artifact-store';
import { hashingCopy } from './hashing-copy';
import { describeLocation, objectName, type StoreLocation } from '../../config/store-location';
import { explainS3Error } from './s3-errors';

type S3Location = Extract<StoreLocation, { kind: 's3' }>;

export interface S3Tuning {
  /** Multipart part size and ranged-GET part size (bytes). */
  partBytes: number;
  /** Parts in flight per file. */
  concurrency: number;
  /** Attempts per request (the SDK's standard retry: exponential backoff with jitter, throttling included). */
  maxAttempts: number;
}

export const DEFAULT_S3_TUNING: S3Tuning = { partBytes: 16 * 1024 * 1024, concurrency: 8, maxAttempts: 10 };

const SHA_META = 'sha256';

export class S3Store implements ArtifactStore {
  readonly location: S3Location;
  readonly description: string;
  readonly client: S3Client;
  private conditional: Promise<boolean> | null = null;

  constructor(
    loc: S3Location,
    readonly tuning: S3Tuning = DEFAULT_S3_TUNING,
    client?: S3Client,
  ) {
    this.location = loc;
    this.description = describeLocation(loc);
    this.client =
      client ??
      new S3Client({
        ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
        region: loc.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        forcePathStyle: loc.forcePathStyle ?? loc.endpoint !== undefined,
        maxAttempts: tuning.maxAttempts,
        retryMode: 'standard',
        // Many S3-compatible servers reject the SDK's default CRC checksums on every request; the
        // sha256 in the metadata is the integrity check that matters here.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  private name(key: string): string {
    return objectName(this.location.prefix, key);
  }

  private fail(e: unknown, action: 'read' | 'write' | 'list' | 'delete', key?: string): Error {
    return explainS3Error(e, this.location, action, key);
  }

  async putFile(key: string, file: string, opts: PutOptions = {}): Promise<PutOutcome> {
    const bytes = fs.statSync(file).size;
    const sha256 = opts.sha256 ?? (await hashFile(file));
    if (bytes <= this.tuning.partBytes) {
      const body = fs.readFileSync(file);
      const actual = createHash('sha256').update(body).digest('hex');
      if (actual !== sha256) throw new StoreIntegrityError(key, sha256, actual, `upload of ${file}`);
      const out = await this.putBytes(key, body, { ...opts, sha256 });
      opts.progress?.(bytes, bytes);
      return out;
    }
    if (opts.ifAbsent) throw new Error(`create-only writes are for small records, not ${file} (${bytes} bytes)`);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.name(key), Body: fs.createReadStream(file), ContentLength: bytes, Metadata: { [SHA_META]: sha256 } },
      partSize: this.tuning.partBytes,
      queueSize: this.tuning.concurrency,
      leavePartsOnError: false,
    });
    if (opts.progress) upload.on('httpUploadProgress', (p) => opts.progress!(p.loaded ?? 0, bytes));
    try {
      await upload.done();
    } catch (e) {
      throw this.fail(e, 'write', key);
    }
    return { key, bytes, sha256, written: true };
  }

  async putBytes(key: string, body: Buffer | string, opts: Omit<PutOptions, 'progress'> = {}): Promise<PutOutcome> {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const sha256 = createHash('sha256').update(buf).digest('hex');
    if (opts.sha256 && opts.sha256 !== sha256) throw new StoreIntegrityError(key, opts.sha256, sha256, 'write');
    const base = { key, bytes: buf.length, sha256 };
    if (opts.ifAbsent && !(await this.conditionalWrites())) {
      // The server ignores If-None-Match: look first. Two writers racing inside this window can both
      // write; docs/many-hosts.md says which servers need this and what it means.
      if (await this.head(key)) return { ...base, written: false };
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.location.bucket,
            Key: this.name(key),
            Body: buf,
            ContentLength: buf.length,
            Metadata: { [SHA_META]: sha256 },
            ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return { ...base, written: true };
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (opts.ifAbsent && status === 412) return { ...base, written: false };
        // 409: another create-only write of this key is in flight (AWS); its outcome decides.
        if (opts.ifAbsent && status === 409 && attempt < 5) {
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          continue;
        }
        throw this.fail(e, 'write', key);
      }
    }
  }

  async head(key: string): Promise<StoredObject | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.name(key) }));
      return { key, bytes: h.ContentLength ?? 0, sha256: h.Metadata?.[SHA_META] ?? null, ...(h.ETag ? { etag: h.ETag } : {}) };
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 && (e as { name?: string }).name !== 'NoSuchBucket') {
        // HEAD has no body, so a missing bucket also reads as 404: tell them apart once.
        await this.bucketExists();
        return null;
      }
      throw this.fail(e, 'read', key);
    }
  }

  private bucketChecked = false;
  private async bucketExists(): Promise<void> {
    if (this.bucketChecked) return;
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: this.location.bucket, MaxKeys: 1, Prefix: this.location.prefix ? `${this.location.prefix}/` : '' }),
      );
      this.bucketChecked = true;
    } catch (e) {
      throw this.fail(e, 'list');
    }
  }

  async getFile(key: string, dest: string, opts: GetOptions = {}): Promise<StoredObject & { sha256: string }> {
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (opts.tmpDir) fs.mkdirSync(opts.tmpDir, { recursive: true });
    const tmp = opts.tmpDir ? path.join(opts.tmpDir, `${path.basename(dest)}.tmp-${randomUUID()}`) : `${dest}.tmp-${randomUUID()}`;
    try {
      const got = await this.download(key, tmp, opts);
      fs.renameSync(tmp, dest);
      return got;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  private async download(key: string, tmp: string, opts: GetOptions): Promise<StoredObject & { sha256: string }> {
    const head = await this.headOrMissing(key);
    const expected = opts.unchecked ? null : (opts.sha256 ?? head.sha256);
    let got: { sha256: string; bytes: number };
    if (head.bytes <= this.tuning.partBytes) {
      let res;
      try {
        res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.name(key), ...(head.etag ? { IfMatch: head.etag } : {}) }));
      } catch (e) {
        throw this.fail(e, 'read', key);
      }
      got = await hashingCopy(res.Body as Readable, tmp, head.bytes, opts.progress);
    } else {
      got = await this.rangedDownload(key, head.bytes, head.etag, tmp, opts);
    }
    if (got.bytes !== head.bytes) throw new Error(`${this.description}: ${key} came down as ${got.bytes} of ${head.bytes} bytes; retry`);
    if (expected && expected !== got.sha256) throw new StoreIntegrityError(key, expected, got.sha256, this.description);
    return { key, bytes: got.bytes, sha256: got.sha256 };
  }

  /** The object's size, recorded hash and ETag; a missing key is an error naming it. */
  private async headOrMissing(key: string): Promise<StoredObject> {
    const h = await this.head(key);
    if (!h) throw new Error(`${this.description}: ${key} is missing`);
    return h;
  }

  /** Parallel ranged GETs written at their offsets; the hash advances in order, holding a bounded window of parts. */
  private async rangedDownload(
    key: string,
    total: number,
    etag: string | undefined,
    tmp: string,
    opts: GetOptions,
  ): Promise<{ sha256: string; bytes: number }> {
    const { partBytes, concurrency } = this.tuning;
    const parts = Math.ceil(total / partBytes);
    const hash = createHash('sha256');
    const ready = new Map<number, Buffer>();
    let hashed = 0;
    let done = 0;
    let next = 0;
    let wake: (() => void) | null = null;
    const fh = await fs.promises.open(tmp, 'w');
    try {
      const lane = async () => {
        while (next < parts) {
          const i = next++;
          // Never hold more than a window of parts ahead of the hash.
          while (i >= hashed + concurrency * 2) await new Promise<void>((r) => (wake = r));
          const buf = await this.range(key, etag, i * partBytes, Math.min(total, (i + 1) * partBytes) - 1);
          await fh.write(buf, 0, buf.length, i * partBytes);
          ready.set(i, buf);
          while (ready.has(hashed)) {
            const b = ready.get(hashed)!;
            hash.update(b);
            ready.delete(hashed);
            done += b.length;
            hashed++;
          }
          opts.progress?.(done, total);
          const w = wake as (() => void) | null;
          wake = null;
          w?.();
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, parts) }, lane));
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { sha256: hash.digest('hex'), bytes: done };
  }

  /** One part; a stream cut mid-body (a restarting server) is retried here, not by restarting the file. */
  private async range(key: string, etag: string | undefined, from: number, to: number): Promise<Buffer> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.location.bucket, Key: this.name(key), Range: `bytes=${from}-${to}`, ...(etag ? { IfMatch: etag } : {}) }),
        );
        const body = Buffer.from(await res.Body!.transformToByteArray());
        if (body.length !== to - from + 1) throw new Error(`short part: ${body.length} of ${to - from + 1} bytes`);
        return body;
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 412) throw new Error(`${this.description}: ${key} was replaced while it downloaded; retry`);
        if (attempt >= this.tuning.maxAttempts || (status !== undefined && status < 500 && status !== 429)) throw this.fail(e, 'read', key);
        await new Promise((r) => setTimeout(r, Math.min(20_000, 100 * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
  }

  async getBytes(key: string, opts: Omit<GetOptions, 'progress'> = {}): Promise<Buffer> {
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.name(key) }));
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 && (e as { name?: string }).name !== 'NoSuchBucket') throw new Error(`${this.description}: ${key} is missing`);
      throw this.fail(e, 'read', key);
    }
    const buf = Buffer.from(await res.Body!.transformToByteArray());
    const sha256 = createHash('sha256').update(buf).digest('hex');
    const expected = opts.sha256 ?? res.Metadata?.[SHA_META];
    if (expected && expected !== sha256) throw new StoreIntegrityError(key, expected, sha256, this.description);
    return buf;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const base = this.location.prefix ? `${this.location.prefix}/` : '';
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: base + prefix, ContinuationToken: token }));
      } catch (e) {
        throw this.fail(e, 'list');
      }
      for (const o of page.Contents ?? [])
        if (o.Key) yield { key: o.Key.slice(base.length), bytes: o.Size ?? 0, sha256: null, ...(o.ETag ? { etag: o.ETag } : {}) };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** One level of the tree under `prefix` (ending in "/"): its objects, and its sub-folders as prefixes. */
  async listFolder(prefix: string): Promise<{ objects: StoredObject[]; folders: string[] }> {
    const base = this.location.prefix ? `${this.location.prefix}/` : '';
    const out = { objects: [] as StoredObject[], folders: [] as string[] };
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: base + prefix, Delimiter: '/', ContinuationToken: token }),
        );
      } catch (e) {
        throw this.fail(e, 'list');
      }
      for (const o of page.Contents ?? [])
        if (o.Key) out.objects.push({ key: o.Key.slice(base.length), bytes: o.Size ?? 0, sha256: null, ...(o.ETag ? { etag: o.ETag } : {}) });
      for (const f of page.CommonPrefixes ?? []) if (f.Prefix) out.folders.push(f.Prefix.slice(base.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.name(key) }));
    } catch (e) {
      throw this.fail(e, 'delete', key);
    }
  }

  /** Two create-only writes of one probe key: the second must be refused (412) where the server honours If-None-Match. */
  conditionalWrites(): Promise<boolean> {
    this.conditional ??= (async () => {
      const key = `.alignloop/probe/conditional-${randomUUID()}`;
      const put = () => this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.name(key), Body: 'probe', IfNoneMatch: '*' }));
      try {
        await put();
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 501 || status === 400) return false; // the header itself is refused
        this.conditional = null;
        throw this.fail(e, 'write', key);
      }
      try {
        await put();
        return false;
      } catch (e) {
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 412) return true;
        this.conditional = null;
        throw this.fail(e, 'write', key);
      } finally {
        await this.delete(key).catch(() => undefined);
      }
    })();
    return this.conditional;
  }

  destroy(): void {
    this.client.destroy();
  }
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
