// A webhook receiver for trying webhooks locally: it verifies each request with the standardwebhooks library
// and the secret `missions webhooks add` printed, prints each event on one line, and drops repeated deliveries
// (the same webhook-id: a retry of one it has seen).
//   WEBHOOK_SECRET=whsec_... npx tsx examples/webhook-receiver.ts [port]
// The API must be told it may call this address: WEBHOOK_URL_ALLOWLIST=http://127.0.0.1:<port>.
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error('set WEBHOOK_SECRET to the secret `missions webhooks add` printed');
  process.exit(2);
}
const verifier = new Webhook(secret);
const seen = new Set<string>();
const port = Number(process.argv[2] ?? 8080);

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let event: { type: string; data: Record<string, unknown> };
    try {
      event = verifier.verify(Buffer.concat(chunks).toString(), req.headers as Record<string, string>) as typeof event;
    } catch (error) {
      console.log(`refused a request: ${(error as Error).message}`);
      return void res.writeHead(400).end();
    }
    const id = String(req.headers['webhook-id']);
    if (!seen.has(id)) console.log(`${event.type} ${JSON.stringify(event.data)}`);
    seen.add(id);
    res.writeHead(204).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
