import { fullJitterDelay, isFailoverSignal, replyCode } from '@tiercache/redis'
import type { Redis, RedisOptions } from 'ioredis'
import { type ConnectionHooks, type ResolvedSentinelOptions, toIoredisOptions } from './options.js'

/**
 * The reconnect policy of every Sentinel-managed connection.
 * - READONLY: we are talking to a node that was demoted (manual `SENTINEL FAILOVER`, or an old master that
 *   came back as a replica). Reply 2 = drop the connection, re-resolve the master through the sentinels,
 *   and resend the command there — the fix for the classic "READONLY You can't write against a read only
 *   replica" after a failover.
 * - MASTERDOWN (a replica that lost its master): reconnect, but fail the command so the store's own
 *   retry/deadline decides.
 * Reconnects are quick (≤ ~0.5 s, full jitter) because a failover on a 1 s down-after is over in seconds.
 */
export const SENTINEL_HOOKS: ConnectionHooks = {
  reconnectOnError: (error) => {
    if (replyCode(error) === 'READONLY') return 2
    return isFailoverSignal(error) ? 1 : false
  },
  retryStrategy: (attempt) => 20 + fullJitterDelay(attempt, 50, 500),
  sentinelRetryStrategy: (attempt) => 50 + fullJitterDelay(attempt, 50, 500),
}

/**
 * ioredis options for one connection of a Sentinel store: the Sentinel part from the URL / options, with
 * `base` (the Redis store's own connection settings: timeouts, offline queue, …) underneath.
 */
export function sentinelConnectionOptions(
  options: ResolvedSentinelOptions,
  role: 'master' | 'replica',
  base: RedisOptions = {},
): RedisOptions {
  // Host/port/path of a standalone connection must not leak into a Sentinel one.
  const { host: _host, port: _port, path: _path, ...rest } = base as RedisOptions & { path?: string }
  return { ...rest, ...toIoredisOptions(options, role === 'replica' ? 'slave' : 'master', SENTINEL_HOOKS) }
}

/**
 * Makes every (re)connect of a Sentinel-managed client start its search for the master at the sentinel that
 * answered last. ioredis keeps a cursor over the sentinel list and, unless its own failover detector is on
 * (ours replaces it), never rewinds it after a success: every reconnect starts at the next sentinel, and
 * every few reconnects it runs off the end of the list, reports "All sentinels are unreachable. Retrying
 * from scratch after N ms" (with every sentinel up) and waits N ms before the master is found again — during
 * a failover, when a reconnect should be quickest. Reaches into ioredis' SentinelConnector (ioredis 5 and 6);
 * without it the client is left as is.
 */
export function rewindSentinelSearch<C extends Redis>(client: C): C {
  type Iterator = { cursor: number; reset(moveCurrentEndpointToFirst: boolean): void }
  const connector = (client as unknown as { connector?: { connect?: unknown; sentinelIterator?: Iterator } })
    .connector
  const connect = connector?.connect
  const iterator = connector?.sentinelIterator
  if (connector === undefined || typeof connect !== 'function' || typeof iterator?.reset !== 'function')
    return client
  connector.connect = function (this: unknown, ...args: unknown[]) {
    // cursor - 1 is the sentinel that answered last; reset(true) moves it first (not from 0: it would move
    // the last sentinel of the list instead).
    if (iterator.cursor > 0) iterator.reset(true)
    return (connect as (...a: unknown[]) => unknown).apply(connector, args)
  }
  return client
}
