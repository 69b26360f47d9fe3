import { createServer, type IncomingHttpHeaders } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the library made of it with the endpoint's secret: the payload, or why it refused it. */
  verified: { payload: { type: string; timestamp: string; data: Record<string, unknown> } } | { error: string };
  /** What this receiver answered. */
  answered: number;
}

/**
 * A webhook receiver on loopback, as a tenant would run one: it verifies each request with the standardwebhooks
 * library, keeps every request it got, and answers as told (200, or 503 while "down", or 410 Gone).
 */
export interface WebhookReceiver {
  url: string;
  origin: string;
  received: Received[];
  /** The payloads it accepted and verified, by event type. */
  accepted(type?: string): Received[];
  /** The secret to verify with: the one the API answered when the webhook was created. */
  secret: string | undefined;
  answer: 200 | 410 | 503;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<WebhookReceiver> {
  const receiver = { received: [] as Received[], secret: undefined as string | undefined, answer: 200 as 200 | 410 | 503 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      let verified: Received['verified'];
      try {
        verified = { payload: new Webhook(receiver.secret!).verify(body, req.headers as Record<string, string>) as Extract<Received['verified'], { payload: unknown }>['payload'] };
      } catch (error) {
        verified = { error: (error as Error).message };
      }
      const answered = 'error' in verified ? 400 : receiver.answer;
      receiver.received.push({ id: String(req.headers['webhook-id']), headers: req.headers, body, verified, answered });
      res.writeHead(answered).end(answered === 200 ? 'ok' : 'not now');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(receiver, {
    url: `${origin}/hooks`,
    origin,
    accepted(type?: string) {
      return receiver.received.filter((request) => request.answered === 200 && (!type || ('payload' in request.verified && request.verified.payload.type === type)));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
