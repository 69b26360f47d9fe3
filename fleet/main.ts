// `npm run fleet`: the simulated deployment on this machine (fleet/fleet.ts), up until Ctrl-C, then taken down.
// Every part prints where it listens; the API answers through HAProxy.
import { loadConfig } from '../lib/config';
import { Fleet } from './fleet';

async function main(): Promise<void> {
  const config = loadConfig();
  const fleet = await Fleet.start(
    { databaseUrl: config.DATABASE_URL, queuePrefix: config.QUEUE_PREFIX, hosts: ['a', 'b'], workersPerHost: 2, apis: 2 },
    (line) => console.log(`fleet: ${line}`),
  );
  for (const host of fleet.hosts.keys()) console.log(`fleet: host ${host} workers ${fleet.workerIds(host).join(', ')}`);
  console.log(`fleet: up at ${fleet.url} ; try: MISSIONS_URL=${fleet.url} MISSIONS_API_KEY=<ADMIN_API_KEY> npx missions submit examples/missions.json`);
  console.log('fleet: Ctrl-C takes it down');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log('fleet: taking it down');
    fleet.stop().then(() => process.exit(0), (error: unknown) => (console.error(error), process.exit(1)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
