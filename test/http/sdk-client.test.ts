import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { DIRECT_NETWORK } from '../../src/http/network';
import { sdkHttpClient } from '../../src/http/sdk-client';

// The HTTP client @azure/identity signs in with hands the SDK a body it can read: an Entra ID or
// managed identity answer sent compressed is decoded by Content-Encoding (zlib is loaded only then).

const ANSWER = JSON.stringify({ access_token: 'not-a-real-token', expires_in: 3599 });
const ENCODERS: Record<string, (bytes: Buffer) => Buffer> = {
  gzip: gzipSync,
  deflate: deflateSync,
  br: brotliCompressSync,
  identity: (bytes) => bytes,
};

describe('sdkHttpClient: compressed answers', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      const encoding = req.url!.slice(1);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': encoding });
      res.end(ENCODERS[encoding]!(Buffer.from(ANSWER)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const encoding of Object.keys(ENCODERS)) {
    it(`reads an answer sent with Content-Encoding: ${encoding} as the JSON that was sent`, async () => {
      const response = await sdkHttpClient(DIRECT_NETWORK).sendRequest(
        createPipelineRequest({ url: `${base}/${encoding}`, method: 'GET' }),
      );
      assert.equal(response.status, 200);
      assert.equal(response.bodyAsText, ANSWER);
    });
  }
});
