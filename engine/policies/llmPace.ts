import type { Redis } from '../../lib/redis';

/**
 * One reservation for a call, as a generic cell rate algorithm over Redis's clock: the endpoint's requests and
 * tokens each have a theoretical arrival time (TAT) in one hash. A call takes the next slot of both (its tokens
 * an estimate), spaced window/limit apart, and is told how long to wait for it: callers are lined up in time,
 * one slot each, so none come at once (no herd at a window's start), and no window of the provider's count sees
 * more than the limit. Answers {wait ms, the slot's time}.
 */
const RESERVE = `
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local requests_at = math.max(tonumber(redis.call('HGET', KEYS[1], 'requests') or '0'), now)
local tokens_at = math.max(tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0'), now)
local slot = math.max(requests_at, tokens_at)
redis.call('HSET', KEYS[1], 'requests', slot + tonumber(ARGV[1]), 'tokens', slot + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.ceil(slot - now + tonumber(ARGV[3])))
return {slot - now, slot}`;

/** Gives back (or takes more of) the tokens' time once a call's real usage is known; never before now. */
const SETTLE = `
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local tokens_at = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
if tokens_at > 0 then redis.call('HSET', KEYS[1], 'tokens', math.max(now, tokens_at + tonumber(ARGV[1]))) end
return 0`;

type WithPace = Redis & {
  llmReserve(key: string, requestMs: number, tokensMs: number, keepMs: number): Promise<[number, number]>;
  llmSettle(key: string, tokensMs: number): Promise<number>;
};

export interface Pace {
  /** Takes the next slot for a call of about `estimatedTokens`: how long to wait for it, and when it is (Redis's clock). */
  reserve(estimatedTokens: number): Promise<{ waitMs: number; slotAt: number }>;
  /** The call used `usedTokens` where `estimatedTokens` were reserved: the difference is given back or taken. */
  settle(estimatedTokens: number, usedTokens: number): Promise<void>;
}

/** `requestsPerWindow` and `tokensPerWindow` per `windowMs`, across every process sharing `redis` under `key`. */
export function redisPace(redis: Redis, key: string, limits: { requestsPerWindow: number; tokensPerWindow: number; windowMs: number }): Pace {
  redis.defineCommand('llmReserve', { numberOfKeys: 1, lua: RESERVE });
  redis.defineCommand('llmSettle', { numberOfKeys: 1, lua: SETTLE });
  const paced = redis as WithPace;
  const perRequestMs = limits.windowMs / limits.requestsPerWindow;
  const perTokenMs = limits.windowMs / limits.tokensPerWindow;
  return {
    async reserve(estimatedTokens) {
      const [waitMs, slotAt] = await paced.llmReserve(key, perRequestMs, estimatedTokens * perTokenMs, limits.windowMs * 2);
      return { waitMs, slotAt };
    },
    async settle(estimatedTokens, usedTokens) {
      if (usedTokens !== estimatedTokens) await paced.llmSettle(key, (usedTokens - estimatedTokens) * perTokenMs);
    },
  };
}
