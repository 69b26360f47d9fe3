import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { publicOnlyLookup } from './publicAddress';

export interface PostOptions {
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Connect only to public addresses, checked on the address actually connected to (a tenant's own URL). */
  publicOnly?: boolean;
  /** An answer larger than this is refused: a hostile endpoint must not fill our memory. */
  maxResponseBytes: number;
}

export class ResponseTooLargeError extends Error {}

/** POSTs `body` to `url` and reads the answer. Redirects are not followed: a call goes where it was sent. */
export function httpPost(url: URL, body: string, options: PostOptions): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': Buffer.byteLength(body) },
        signal: options.signal,
        ...(options.publicOnly && { lookup: publicOnlyLookup }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxResponseBytes) request.destroy(new ResponseTooLargeError(`the answer is over ${options.maxResponseBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
