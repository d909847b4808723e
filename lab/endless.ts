import type { ServerResponse } from 'node:http';

// A body with no end in sight, for showing that a client stops reading at its limit: `offered`
// bytes in 64 KiB chunks with backpressure, so what the server got rid of (`sent()`, once the
// connection is closed) is about what the client read.

export interface EndlessBody {
  readonly offered: number;
  /** Answers `res` with `status`, `headers` (no Content-Length unless given) and the body. */
  send(res: ServerResponse, status: number, headers?: Record<string, string>): void;
  /** Bytes written before the connection closed; waits for the close. */
  sent(): Promise<number>;
}

export function endlessBody(offered = 64 * 1024 * 1024): EndlessBody {
  let sent = 0;
  let done: () => void;
  const closed = new Promise<void>((resolve) => (done = resolve));
  return {
    offered,
    send(res, status, headers = {}) {
      res.writeHead(status, headers);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = (): void => {
        while (sent < offered && !res.destroyed) {
          sent += chunk.byteLength;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.once('close', () => done());
      more();
    },
    sent: async () => {
      await closed;
      return sent;
    },
  };
}
