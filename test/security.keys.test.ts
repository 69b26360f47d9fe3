import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApi, type RunningApi } from '../apps/api';
import { loadConfig } from '../lib/config';
import { EXIT_CONFIG } from '../lib/service';
import { testLogger } from './harness';
import { forkApi } from './processes';
import { consoleSignIn, createTenant, shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// Keys that can be revoked everywhere, sessions that end, and a deployment that cannot be shipped open. The
// platform runs no worker, so missions stay queued and their event streams stay open until something ends them.
const SESSION_SECRET = 'a-session-secret-of-this-test-only-0123456789';
const context = usePlatform({ worker: false, env: { SESSION_SECRET, TRUST_PROXY: 'loopback' } });
/** Revocation reaches every API process within this (pushed through Postgres), plus a margin for a loaded machine. */
const REVOKED_WITHIN_MS = 2_000 + 3_000;
let second: RunningApi;
let proxy: Server | undefined;
beforeAll(async () => {
  second = await startApi(context.env.config, testLogger());
});
afterAll(async () => {
  proxy?.close();
  await second?.close();
});

const url = (api: RunningApi, path: string) => `http://127.0.0.1:${api.port}${path}`;
const as = (key: string) => ({ authorization: `Bearer ${key}` });

const signIn = (api: RunningApi, key: string, headers: Record<string, string> = {}) => consoleSignIn(url(api, ''), key, headers);

const consolePage = (api: RunningApi, cookie: string) => fetch(url(api, '/console/missions'), { redirect: 'manual', headers: { cookie, accept: 'text/html' } });

test('outside development the default admin key, or a missing SESSION_SECRET, stops the API with exit 78', async () => {
  const production = { NODE_ENV: 'production', PORT: '0' };
  const withDefaultKey = forkApi(context.env.config, 0, { ...production, ADMIN_API_KEY: 'dev-admin-key-change-me', SESSION_SECRET });
  const withoutSecret = forkApi(context.env.config, 0, { ...production, ADMIN_API_KEY: 'an-admin-key-of-this-test-0123' });
  const [[defaultKeyCode], [noSecretCode]] = await Promise.all([once(withDefaultKey, 'exit'), once(withoutSecret, 'exit')]);
  expect([defaultKeyCode, noSecretCode]).toEqual([EXIT_CONFIG, EXIT_CONFIG]);
  expect(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET })).toThrow(/is the development default[^]*at ADMIN_API_KEY/);
});

test('a session cookie signed the old way (with a key derived from the admin key) is refused', async () => {
  const admin = loadConfig({}).ADMIN_API_KEY;
  const oldSecret = createHmac('sha256', admin).update('mission-control browser session').digest();
  const signed = `admin.${Date.now() + 3_600_000}`;
  const forged = `${signed}.${createHmac('sha256', oldSecret).update(`session:${signed}`).digest('base64url')}`;
  const response = await consolePage(second, `mc_session=${forged}`);
  expect(response.status).toBe(303);
  expect(response.headers.get('location')).toMatch(/^\/console\/login/);
});

test('keys are created, listed without secrets and revoked; a revoked key, its stream and its console session end on every API process', async () => {
  const created = (await (await context.platform.request('POST', '/v1/admin/tenants', { name: 'rotating' })).json()) as { tenant: { id: string }; api_key: string };
  const keysPath = `/v1/admin/tenants/${created.tenant.id}/keys`;
  const rotated = await context.platform.request('POST', keysPath);
  expect(rotated.status).toBe(201);
  const { key_id: keyId, api_key: key } = (await rotated.json()) as { key_id: string; api_key: string };
  // The first key keeps working beside the new one (rotation is create, switch, revoke).
  expect((await fetch(url(second, '/v1/missions'), { headers: as(created.api_key) })).status).toBe(200);
  const mission = (await (await fetch(url(second, '/v1/missions'), { method: 'POST', headers: { ...as(key), 'content-type': 'application/json' }, body: JSON.stringify({ goal: 'wait', plan: [shell('true')] }) })).json()) as { id: string };

  type Page = { data: Record<string, unknown>[]; next_cursor: string };
  const firstPage = async () => (await (await context.platform.request('GET', `${keysPath}?limit=1`)).json()) as Page;
  // Its use is noted in the background, once a minute at most.
  await waitFor(async () => (await firstPage()).data[0]?.last_used_at !== null, 10_000, 'the new key noted as used');
  const listed = await firstPage();
  expect(listed.data).toEqual([{ key_id: keyId, created_at: expect.any(String), last_used_at: expect.any(String), revoked_at: null }]);
  const rest = (await (await context.platform.request('GET', `${keysPath}?cursor=${listed.next_cursor}`)).json()) as { data: { key_id: string }[] };
  expect(rest.data).toHaveLength(1);
  expect(JSON.stringify([listed, rest])).not.toContain(key.slice(3));
  expect(JSON.stringify([listed, rest])).not.toContain(created.api_key.slice(3));

  // On the second API process: a stream open and a console session, both made with the new key.
  const stream = await fetch(url(second, `/v1/missions/${mission.id}/events`), { headers: as(key) });
  expect(stream.status).toBe(200);
  const streamText = stream.text();
  const session = await signIn(second, key);
  expect(session.status).toBe(303);
  expect((await consolePage(second, session.cookie)).status).toBe(200);

  // Revoked through the first process.
  expect((await context.platform.request('DELETE', `${keysPath}/${keyId}`)).status).toBe(204);
  await waitFor(async () => (await fetch(url(second, '/v1/missions'), { headers: as(key) })).status === 401, REVOKED_WITHIN_MS, 'the revoked key refused by the other API');
  await expect(Promise.race([streamText, new Promise((resolve) => setTimeout(resolve, REVOKED_WITHIN_MS, 'still open'))])).resolves.not.toBe('still open');
  expect((await consolePage(second, session.cookie)).status).toBe(303);
  expect((await fetch(url(second, '/v1/missions'), { headers: as(created.api_key) })).status).toBe(200);
  expect((await context.platform.request('DELETE', `${keysPath}/${keyId}`)).status).toBe(204);
  expect((await context.platform.request('DELETE', `/v1/admin/tenants/${created.tenant.id}/keys/${created.tenant.id}`)).status).toBe(404);
  const tenantCaller = await createTenant(context.platform, 'not-an-admin');
  expect((await fetch(url(second, keysPath), { headers: tenantCaller })).status).toBe(403);
});

test('logging out ends the session on the server: its cookie, replayed, is refused by every API process', async () => {
  const alice = await createTenant(context.platform, 'alice');
  const { cookie } = await signIn(context.platform.api, alice.authorization.slice('Bearer '.length));
  expect((await consolePage(second, cookie)).status).toBe(200);
  const page = await (await consolePage(context.platform.api, cookie)).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
  const logout = await fetch(url(context.platform.api, '/console/logout'), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf }).toString(),
  });
  expect(logout.status).toBe(303);
  expect((await consolePage(second, cookie)).status).toBe(303);
  expect((await consolePage(context.platform.api, cookie)).status).toBe(303);
});

test('a login form posted without its token (login CSRF) is refused', async () => {
  const alice = await createTenant(context.platform, 'mallory-target');
  const response = await fetch(url(second, '/console/login'), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ key: alice.authorization.slice('Bearer '.length) }).toString(),
  });
  expect(response.status).toBe(403);
  expect(response.headers.getSetCookie().join()).not.toMatch(/mc_session=/);
});

test('behind a TLS proxy: session cookies are Secure and __Host-, and one address failing does not lock out another', async () => {
  proxy = http.createServer((req, res) => {
    const forwarded = http.request(
      { host: '127.0.0.1', port: second.port, path: req.url, method: req.method, headers: { ...req.headers, 'x-forwarded-proto': 'https' } },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forwarded);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const viaProxy = { port: (proxy.address() as AddressInfo).port } as RunningApi;
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const bob = await createTenant(context.platform, 'bob');
  const bobKey = bob.authorization.slice('Bearer '.length);

  const signedIn = await signIn(viaProxy, bobKey, from('203.0.113.7'));
  expect(signedIn.cookie).toMatch(/^__Host-mc_session=/);
  const page = await fetch(url(viaProxy, '/console/login'), { headers: from('203.0.113.7') });
  expect(page.headers.getSetCookie()[0]).toMatch(/; Secure/);

  // One address sends bad keys until it is refused without a lookup; another address is served.
  let status = 0;
  for (let i = 0; i < 100 && status !== 429; i++) {
    status = (await fetch(url(viaProxy, '/v1/missions'), { headers: { ...as(`mc_guess${i}`), ...from('198.51.100.1') } })).status;
  }
  expect(status).toBe(429);
  expect((await fetch(url(viaProxy, '/v1/missions'), { headers: { ...bob, ...from('198.51.100.2') } })).status).toBe(200);
  // The console's login limiter counts per address too.
  for (let i = 0; i < 25; i++) await signIn(viaProxy, `mc_wrong${i}`, from('198.51.100.3'));
  expect((await signIn(viaProxy, bobKey, from('198.51.100.3'))).status).toBe(429);
  expect((await signIn(viaProxy, bobKey, from('198.51.100.4'))).status).toBe(303);
});
