/**
 * A proxy in front of the real S3 test server that adds the faults object storage has in production:
 * throttling (503 SlowDown, as S3 answers a hot prefix), bodies cut mid-transfer, and a server that
 * ignores create-only writes (acknowledges a second `If-None-Match: *` PUT instead of refusing it).
 * Requests are forwarded byte for byte with their Host header, so signatures stay valid.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultPlan {
  /** Answer every k-th request with 503 SlowDown (0: never). */
  slowDownEvery?: number;
  /** Cut the body of this many GET responses after `cutAfterBytes` bytes. */
  cutGets?: number;
  cutAfterBytes?: number;
  /** Pretend create-only writes succeed when the server refused them (a server without conditional writes). */
  ignoreConditional?: boolean;
}

export class S3FaultProxy {
  private server: http.Server | null = null;
  requests = 0;
  slowDowns = 0;
  cuts = 0;
  plan: FaultPlan = {};

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const t = new URL(this.target);
    this.server = http.createServer((req, res) => {
      this.requests++;
      const every = this.plan.slowDownEvery ?? 0;
      if (every > 0 && this.requests % every === 0) {
        this.slowDowns++;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        const conditional = req.method === 'PUT' && req.headers['if-none-match'] === '*';
        if (conditional && upRes.statusCode === 412 && this.plan.ignoreConditional) {
          upRes.resume();
          res.writeHead(200, { etag: '"ignored"' });
          res.end();
          return;
        }
        const cut = req.method === 'GET' && (this.plan.cutGets ?? 0) > 0 && upRes.statusCode !== undefined && upRes.statusCode < 300;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!cut) {
          upRes.pipe(res);
          return;
        }
        this.plan.cutGets!--;
        this.cuts++;
        let sent = 0;
        const limit = this.plan.cutAfterBytes ?? 1024;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= limit) return;
          const part = chunk.subarray(0, limit - sent);
          sent += part.length;
          res.write(part);
          if (sent >= limit) {
            upRes.destroy();
            res.socket?.destroy();
          }
        });
        upRes.on('end', () => res.end());
      });
      up.on('error', () => res.socket?.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
    this.server = null;
  }
}
