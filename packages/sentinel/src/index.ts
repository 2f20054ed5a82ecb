import type { RemoteStore, StoreConfig } from '@tiercache/core'
import { resolveTuning } from '@tiercache/redis'
import type { RedisOptions } from 'ioredis'
import { resolveSentinelOptions } from './options.js'
import { SENTINEL_DEFAULTS, SentinelStore } from './store.js'

/**
 * The adapter entry core imports for `redis+sentinel://`, `rediss+sentinel://`, `valkey+sentinel://` and
 * `{ type: 'sentinel', sentinels, name, … }`. Misconfiguration throws a `TierCacheError`.
 */
export function createStore(config: StoreConfig): RemoteStore {
  const options = resolveSentinelOptions(config)
  const params = config.parsed?.params ?? {}
  // Sentinel defaults apply only where neither the options nor the URL set the value.
  const withDefaults: Record<string, unknown> = { ...config }
  if (config.writeDeadlineMs === undefined && params.writeDeadlineMs === undefined)
    withDefaults.writeDeadlineMs = SENTINEL_DEFAULTS.writeDeadlineMs
  const tuning = resolveTuning(withDefaults)
  return new SentinelStore(options, tuning, {
    writeWaitMs: options.writeWaitMs,
    invalidationWaitMs: options.invalidationWaitMs,
    failoverWindowMs: options.failoverWindowMs,
    replicaLagWindowMs: options.replicaLagWindowMs,
    ...(config.ioredis !== undefined ? { ioredis: config.ioredis as RedisOptions } : {}),
  })
}

export { SENTINEL_HOOKS, sentinelConnectionOptions } from './connection.js'
export type { FailoverDetectorHooks, FailoverNotice } from './failover-detector.js'
export { FailoverDetector } from './failover-detector.js'
export type {
  ConnectionHooks,
  Consistency,
  ResolvedSentinelOptions,
  SentinelAddress,
  SentinelStoreOptions,
} from './options.js'
export { resolveSentinelOptions, toIoredisOptions } from './options.js'
export type { PendingWrite } from './pending-writes.js'
export { PendingWrites } from './pending-writes.js'
export type { SentinelExtras } from './store.js'
export { SENTINEL_DEFAULTS, SentinelStore } from './store.js'
