import type { Redis } from '../lib/redis';

export interface Cancellations {
  /** A signal that aborts when the mission is cancelled; call `done` when the mission no longer runs here. */
  watch(missionId: string): { signal: AbortSignal; done(): void };
  close(): Promise<void>;
}

/** Listens on the API's cancel channel (a subscriber connection of its own) and aborts the missions running here. */
export async function listenForCancellations(subscriber: Redis, channel: string): Promise<Cancellations> {
  const running = new Map<string, AbortController>();
  subscriber.on('message', (_channel: string, missionId: string) => running.get(missionId)?.abort(new Error('the mission was cancelled')));
  await subscriber.subscribe(channel);
  return {
    watch(missionId) {
      const controller = new AbortController();
      running.set(missionId, controller);
      // A mission's next job can start while the previous one finishes: each removes only its own entry.
      return { signal: controller.signal, done: () => running.get(missionId) === controller && running.delete(missionId) };
    },
    async close() {
      await subscriber.quit();
    },
  };
}
