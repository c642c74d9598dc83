/**
 * A real S3-compatible server for tests and benchmarks: SeaweedFS (`weed mini`: master, volume, filer
 * and S3 in one process), built into .tools/bin by scripts/ensure-seaweedfs.sh. Identities: an admin
 * key pair and a read-only one, so credential and permission failures are real server answers.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../workers/dev-server';
import { ROOT } from './paths';

export const S3_ADMIN = { accessKeyId: 'alignloop-test', secretAccessKey: 'alignloop-test-secret' };
export const S3_READER = { accessKeyId: 'alignloop-reader', secretAccessKey: 'alignloop-reader-secret' };

export interface S3TestServer {
  endpoint: string;
  port: number;
  dataDir: string;
  pid: number;
  /** Creates a bucket (the server refuses to create one on upload). */
  createBucket(name: string): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops (SIGTERM: an orderly restart, as an operator's) and starts again on the same ports and data. */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

export function weedBinary(): string {
  const bin = process.env.ALIGNLOOP_WEED_BIN ?? path.join(ROOT, '.tools', 'bin', 'weed');
  if (!fs.existsSync(bin)) {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'ensure-seaweedfs.sh')], { stdio: 'inherit' });
    if (r.status !== 0 || !fs.existsSync(bin)) throw new Error(`SeaweedFS is not built: run bash scripts/ensure-seaweedfs.sh`);
  }
  return bin;
}

async function freePorts(n: number): Promise<number[]> {
  // weed also listens on port + 10000 (gRPC) for each service: keep both below 65536 and distinct.
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (p < 55000 && !out.includes(p) && !out.includes(p + 10000) && !out.some((q) => q + 10000 === p)) out.push(p);
  }
  return out;
}

export async function startS3Server(dataDir: string): Promise<S3TestServer> {
  const bin = weedBinary();
  fs.mkdirSync(dataDir, { recursive: true });
  const config = path.join(dataDir, 's3-identities.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      identities: [
        {
          name: 'admin',
          credentials: [{ accessKey: S3_ADMIN.accessKeyId, secretKey: S3_ADMIN.secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
        { name: 'reader', credentials: [{ accessKey: S3_READER.accessKeyId, secretKey: S3_READER.secretAccessKey }], actions: ['Read', 'List'] },
      ],
    }),
  );
  const [master, volume, filer, s3, admin, iceberg, lance] = await freePorts(7);
  const args = [
    'mini',
    `-dir=${path.join(dataDir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-volume.port=${volume}`,
    `-filer.port=${filer}`,
    `-s3.port=${s3}`,
    `-admin.port=${admin}`,
    '-admin.port.legacy=0',
    '-admin.ui=false',
    `-s3.port.iceberg=${iceberg}`,
    `-s3.port.lance=${lance}`,
    '-webdav=false',
    '-s3.autoCreateBucket=false',
    `-s3.config=${config}`,
  ];
  fs.mkdirSync(path.join(dataDir, 'data'), { recursive: true });
  const endpoint = `http://127.0.0.1:${s3}`;
  let pid = 0;
  const launch = async () => {
    const log = fs.openSync(path.join(dataDir, 'weed.log'), 'a');
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.unref();
    pid = child.pid!;
    await waitReady(endpoint, dataDir, pid);
  };
  await launch();
  const server: S3TestServer = {
    endpoint,
    port: s3,
    dataDir,
    get pid() {
      return pid;
    },
    async createBucket(name: string) {
      const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
      const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3_ADMIN });
      try {
        await c.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        c.destroy();
      }
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      try {
        process.kill(-pid, signal);
      } catch {
        /* gone */
      }
      // An orderly stop may take a while; after 30 s it is not orderly any more.
      for (let i = 0; i < 600; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        if (i === 599 || (signal === 'SIGKILL' && i === 200)) process.kill(-pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async restart(signal: NodeJS.Signals = 'SIGTERM') {
      await server.kill(signal);
      await launch();
    },
  };
  return server;
}

/** Ready when the S3 port answers an HTTP request (any status). */
async function waitReady(endpoint: string, dataDir: string, pid: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      throw new Error(`weed exited while starting; see ${path.join(dataDir, 'weed.log')}`);
    }
    try {
      const res = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
      if (res.status > 0) {
        // The S3 gateway answers before the filer has volumes to write to: wait for a real write path.
        return;
      }
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`weed did not answer at ${endpoint} within 120 s; see ${path.join(dataDir, 'weed.log')}`);
}
