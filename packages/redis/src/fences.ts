import type { Cluster, Redis } from 'ioredis'

/*
 * The scripts behind "no stale sets" (see RemoteStore.getFenced/setFenced in @tiercache/core). Every key a
 * script touches is passed in KEYS and shares one slot (the engine lays fence keys out so), so they run
 * unchanged on Cluster. Fences carry a PEXPIRE: the engine does not cache loads that outlive it.
 */

/** KEYS: value, fence… · ARGV: bytes, px, expected… → 1 written, 0 refused (a fence moved). */
const FENCED_SET = `
for i = 2, #KEYS do
  if (tonumber(redis.call('GET', KEYS[i])) or 0) ~= tonumber(ARGV[i + 1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

/** KEYS: value, fence · ARGV: fence px → removes the value and bumps its fence in one step. */
const FENCED_DELETE = `
redis.call('UNLINK', KEYS[1])
local generation = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return generation`

/** KEYS: fence · ARGV: px → bumps one fence (a clear's, before its scan). */
const FENCE_BUMP = `
local generation = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return generation`

/** The names {@link defineFenceCommands} gives the scripts on a client (Cluster keeps them out of auto-pipelining). */
export const FENCE_SCRIPTS = ['tiercacheFencedSet', 'tiercacheFencedDelete', 'tiercacheFenceBump'] as const

/** The fence commands ioredis gains from {@link defineFenceCommands} (EVALSHA, EVAL on NOSCRIPT). */
export interface FenceCommands {
  tiercacheFencedSet(numKeys: number, ...args: Array<string | Buffer | number>): Promise<number>
  tiercacheFencedDelete(value: string, fence: string, px: number): Promise<number>
  tiercacheFenceBump(fence: string, px: number): Promise<number>
}

/** Registers the scripts on a connection (or cluster client); pipelines of it get them too. */
export function defineFenceCommands<C extends Redis | Cluster>(client: C): C & FenceCommands {
  const [fencedSet, fencedDelete, fenceBump] = FENCE_SCRIPTS
  client.defineCommand(fencedSet, { lua: FENCED_SET })
  client.defineCommand(fencedDelete, { lua: FENCED_DELETE, numberOfKeys: 2 })
  client.defineCommand(fenceBump, { lua: FENCE_BUMP, numberOfKeys: 1 })
  return client as C & FenceCommands
}

/** Arguments of `tiercacheFencedSet`. */
export function fencedSetArgs(
  key: string,
  bytes: Buffer,
  px: number,
  fence: readonly string[],
  expected: readonly number[],
): [number, ...Array<string | Buffer | number>] {
  return [1 + fence.length, key, ...fence, bytes, px, ...expected]
}

/** MGET reply of `[value, ...fences]` → the value and the fence generations (0 where absent). */
export function parseFencedRead(reply: ReadonlyArray<Buffer | null>): {
  value: Buffer | undefined
  generations: number[]
} {
  const generations = new Array<number>(reply.length - 1)
  for (let i = 1; i < reply.length; i++) {
    const raw = reply[i]
    generations[i - 1] = raw == null ? 0 : Number.parseInt(raw.toString(), 10) || 0
  }
  return { value: reply[0] ?? undefined, generations }
}
