import type { AddressInfo } from 'node:net';
import express from 'express';
import { MissionStore } from '../store/missionStore';
import { ADMIN_CALLER } from '../api/apiKeys';
import { MissionEventHub } from '../api/eventHub';
import { OpenStreams } from '../api/openStreams';
import { streamMissionEvents } from '../api/sse';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { createTestEnv, testLogger, type TestEnv } from './harness';
import { parseSse } from './platform';

// A stream must not close without telling its client how the mission ended. The end can commit between the
// stream's read of new events (none) and its check of whether the mission has ended (yes): here a cancel is
// committed for real in exactly that window, every time.
let env: TestEnv;
let hub: MissionEventHub;
beforeAll(async () => {
  env = await createTestEnv();
  hub = new MissionEventHub(env.config.DATABASE_URL, testLogger());
  await hub.start();
});
afterAll(async () => {
  await hub?.close();
  await env?.cleanup();
});

test('a mission that ends between two reads of its stream still sends its end event before the stream closes', async () => {
  const store = new MissionStore(env.db);
  const [mission] = await store.create([{ tenant_id: ADMIN_TENANT_ID, spec: { goal: 'ends mid-read', policy: 'scripted', plan: [], max_steps: 1, deadline_s: 60, metadata: {} } }]);
  const lastId = String((await env.db('mission_events').where({ mission_id: mission!.id }).max({ id: 'id' }))[0]!.id ?? 0);
  // The store as the stream sees it, except that its first read of events (none after Last-Event-ID) is
  // answered only after the cancel has committed.
  const racing = Object.create(store) as MissionStore;
  let cancelled = false;
  racing.eventsAfter = async (...args) => {
    const events = await store.eventsAfter(...args);
    if (!cancelled) {
      cancelled = true;
      expect((await store.cancel(ADMIN_TENANT_ID, mission!.id))?.cancelled).toBe(true);
    }
    return events;
  };
  const app = express().get('/events', (req, res) =>
    streamMissionEvents(req, res, mission!, ADMIN_CALLER, { store: racing, hub, streams: new OpenStreams(1) }, { heartbeatMs: 60_000 }),
  );
  const server = app.listen(0, '127.0.0.1');
  try {
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;

    const response = await fetch(`http://127.0.0.1:${port}/events`, { headers: { 'last-event-id': lastId } });
    const events = parseSse(await response.text());

    expect(cancelled).toBe(true);
    expect(events.map((event) => [event.event, event.data.status])).toEqual([['status', 'cancelled']]);
  } finally {
    server.close();
  }
});
