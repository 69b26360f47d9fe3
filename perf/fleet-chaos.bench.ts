// `npm run perf -- fleet-chaos`: the simulated fleet (fleet/fleet.ts) running 1,000 one-step sandboxed missions
// while the Redis primary is SIGKILLed (Sentinel promotes the replica), a whole host is lost and comes back,
// PgBouncer restarts and an API is SIGKILLed behind HAProxy (fleet/chaos.ts); and, undisturbed, the same kind of
// batch on two hosts against one host, in the same run. The two hosts share this machine's two cores.
import { runFleetChaos, type FleetChaosOptions } from '../fleet/chaos';
import { runBenchmark } from './benchmark';
import { writeResult } from './stats';

const CHAOS_MISSIONS = Number(process.env.PERF_FLEET_MISSIONS ?? 1_000);
const THROUGHPUT_MISSIONS = 300;
const log = (line: string) => console.error(`fleet-chaos: ${line}`);
const base: Omit<FleetChaosOptions, 'missions' | 'hosts' | 'inject'> = { faultGapMs: 15_000, timeoutMs: 1_200_000, log };

async function main(): Promise<void> {
  const chaos = await runFleetChaos({ ...base, missions: CHAOS_MISSIONS, hosts: ['a', 'b'], inject: true });
  const twoHosts = await runFleetChaos({ ...base, missions: THROUGHPUT_MISSIONS, hosts: ['a', 'b'], inject: false });
  const oneHost = await runFleetChaos({ ...base, missions: THROUGHPUT_MISSIONS, hosts: ['a'], inject: false });
  writeResult('fleet-chaos', {
    settings: { hosts: 2, workers_per_host: 2, apis: 2, step: 'echo; sleep 1', fault_gap_ms: base.faultGapMs },
    chaos,
    throughput: {
      two_hosts_missions_per_min: twoHosts.missions_per_min,
      one_host_missions_per_min: oneHost.missions_per_min,
      ratio: Math.round((twoHosts.missions_per_min / oneHost.missions_per_min) * 100) / 100,
      missions: THROUGHPUT_MISSIONS,
      succeeded: { two_hosts: twoHosts.by_status.succeeded ?? 0, one_host: oneHost.by_status.succeeded ?? 0 },
    },
  }, [
    { name: `fleet missions succeeded under faults (of ${CHAOS_MISSIONS})`, value: chaos.by_status.succeeded ?? 0, unit: 'missions', target: { on: 'value', atLeast: CHAOS_MISSIONS } },
    { name: 'fleet missions stranded', value: chaos.stranded, unit: 'missions', target: { on: 'value', atMost: 0 } },
    { name: 'fleet steps recorded twice', value: chaos.steps_recorded_twice, unit: 'steps', target: { on: 'value', atMost: 0 } },
    { name: 'fleet sandboxes left', value: chaos.sandboxes_left, unit: 'sandboxes', target: { on: 'value', atMost: 0 } },
    { name: 'fleet throughput, two hosts on one machine', value: twoHosts.missions_per_min, unit: '/min', baseline: { name: 'one host', value: oneHost.missions_per_min } },
  ]);
}

runBenchmark(main);
