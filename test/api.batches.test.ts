import { Approvals } from '../store/approvals';
import { MissionStore } from '../store/missionStore';
import { missionHandlers } from '../api/handlers/missions';
import type { MissionSubmitter } from '../store/submitter';
import { createDb } from '../lib/db';
import { shell, usePlatform } from './platform';

// API only: the 1,000 missions of the pagination walk stay queued.
const context = usePlatform({ worker: false, env: { BATCH_MAX: '2000' } });

test('a batch with valid and invalid items accepts the valid ones and explains each invalid one', async () => {
  const { platform } = context;
  const response = await platform.request('POST', '/v1/missions/batch', {
    missions: [
      { goal: 'one', plan: [shell('echo 1')] },
      { goal: '', plan: [shell('echo 2')] },
      { goal: 'three', plan: [shell('echo 3')] },
      { goal: 'four', plan: [{ tool: 'teleport', input: {} }] },
      'not a mission',
    ],
  });

  expect(response.status).toBe(202);
  const body = (await response.json()) as { batch_id: string; accepted: number; rejected: number; items: Record<string, unknown>[] };
  expect(body).toMatchObject({ accepted: 2, rejected: 3 });
  expect(body.items.map((item) => Object.keys(item).sort())).toEqual([['id', 'index'], ['error', 'index'], ['id', 'index'], ['error', 'index'], ['error', 'index']]);
  expect(body.items[3]).toMatchObject({ index: 3, error: { status: 400, errors: [{ path: 'plan.0.tool' }] } });
  const batch = await (await platform.request('GET', `/v1/batches/${body.batch_id}`)).json();
  expect(batch).toMatchObject({ id: body.batch_id, submitted: 5, accepted: 2, counts: { queued: 2, succeeded: 0 } });
  const listed = (await (await platform.request('GET', `/v1/missions?batch_id=${body.batch_id}`)).json()) as { data: { id: string }[] };
  expect(listed.data.map((mission) => mission.id).sort()).toEqual([body.items[0]!.id, body.items[2]!.id].sort());
});

test('items holding strings Postgres cannot store are refused one by one; the rest of the batch is accepted', async () => {
  const response = await context.platform.request('POST', '/v1/missions/batch', {
    missions: [
      { goal: 'fine', plan: [shell('echo 1')] },
      { goal: 'nul \u0000', plan: [shell('echo 2')] },
      { goal: 'fine too', plan: [shell('echo 3')], metadata: { emoji: '\ud83d\ude00' } },
      { goal: 'surrogate', plan: [shell('echo \ud83d')] },
    ],
  });

  expect(response.status).toBe(202);
  const body = (await response.json()) as { accepted: number; items: { index: number; id?: string; error?: { errors: { path: string }[] } }[] };
  expect(body.accepted).toBe(2);
  expect(body.items.map((item) => item.error?.errors.map((error) => error.path) ?? 'accepted')).toEqual(['accepted', ['goal'], 'accepted', ['plan.0.input.command']]);
  const emoji = await context.env.db('missions').where({ id: body.items[2]!.id }).first('spec');
  expect(emoji.spec.metadata).toEqual({ emoji: '😀' });
});

test('a batch over the limit is refused whole with 413', async () => {
  const missions = Array.from({ length: 2001 }, () => ({ goal: 'x', plan: [shell('true')] }));
  const before = await context.env.db('missions').count({ n: '*' });

  const response = await context.platform.request('POST', '/v1/missions/batch', { missions });

  expect(response.status).toBe(413);
  expect(await context.env.db('missions').count({ n: '*' })).toEqual(before);
});

test('pagination walks 1,000 missions newest first with no duplicates or gaps', async () => {
  const { platform } = context;
  const missions = Array.from({ length: 1_000 }, (_, i) => ({ goal: `page ${i}`, plan: [shell('true')], metadata: { i } }));
  const { batch_id } = (await (await platform.request('POST', '/v1/missions/batch', { missions })).json()) as { batch_id: string };

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `/v1/missions?batch_id=${batch_id}&limit=37${cursor ? `&cursor=${cursor}` : ''}`;
    const page = (await (await platform.request('GET', query)).json()) as { data: { id: string }[]; next_cursor: string | null };
    seen.push(...page.data.map((mission) => mission.id));
    cursor = page.next_cursor;
  } while (cursor);

  expect(seen).toHaveLength(1_000);
  expect(new Set(seen).size).toBe(1_000);
  expect([...seen].sort().reverse()).toEqual(seen);
});

test('a list page costs one query whatever its size', async () => {
  const db = createDb(context.env.config.DATABASE_URL, context.env.config.DATABASE_SCHEMA, { poolMax: 1 });
  const queries: string[] = [];
  db.on('query', (query: { sql: string }) => queries.push(query.sql));
  const handlers = missionHandlers({ store: new MissionStore(db), approvals: new Approvals(db), submitter: {} as MissionSubmitter, announceCancel: async () => {}, maxBatch: 10, missionLimits: { defaultDeadlineS: 60, maxDeadlineS: 60 }, admit: async () => [] });
  const admin = await db('tenants').where({ name: 'admin' }).first('id');
  const caller = { tenantId: admin.id, admin: true, rateLimitPerMinute: null, keyId: 'admin' };
  try {
    const counts = [];
    for (const limit of [1, 50, 500]) {
      queries.length = 0;
      const page = await handlers.list(caller, { limit: String(limit) });
      expect((page.body as { data: unknown[] }).data).toHaveLength(limit);
      counts.push(queries.length);
    }
    expect(counts).toEqual([1, 1, 1]);
  } finally {
    await db.destroy();
  }
});
