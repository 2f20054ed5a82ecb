import type { RemoteStore, StoreConfig } from '@tiercache/core'
import { Redis } from 'ioredis'
import { resolveStandaloneOptions } from './options.js'
import { haltOnAuthFailure } from './resilience/classify.js'
import { guardStreams } from './resilience/stream-guard.js'
import { probeTlsRefusal } from './resilience/tls-probe.js'
import { RedisStore } from './store.js'

export type { RedisBusInit } from './bus.js'
export { RedisInvalidationBus } from './bus.js'
export type { FenceCommands } from './fences.js'
export { defineFenceCommands, FENCE_SCRIPTS, fencedSetArgs, parseFencedRead } from './fences.js'
export type { Consistency, ConsistencyOptions, RedisStoreOptions, RedisTuning } from './options.js'
export {
  baseClientOptions,
  CONSISTENCY_PARAMS,
  integerOption,
  resolveConsistency,
  resolveStandaloneOptions,
  resolveTls,
  resolveTuning,
  TUNING_DEFAULTS,
} from './options.js'
export type { RedisStoreInit } from './store.js'
export { clearOp, escapeGlob, RedisStore } from './store.js'

/** The adapter entry core imports for `redis://`, `rediss://`, `valkey://`, `valkeys://` and `{ type: 'redis' }`. */
export function createStore(config: StoreConfig): RemoteStore {
  const { client, tuning } = resolveStandaloneOptions(config)
  return new RedisStore({
    // The kind names the server family in telemetry (`db.system.name`): valkey:// and valkeys:// are Valkey.
    kind: config.parsed?.scheme.startsWith('valkey') ? 'valkey' : 'redis',
    tuning,
    // A rejected password ends the connection for good (AUTH_FAILED), instead of a reconnect loop.
    createClient: (role) =>
      haltOnAuthFailure(
        guardStreams(
          new Redis({ ...client, connectionName: role === 'subscriber' ? 'tiercache:bus' : 'tiercache' }),
        ),
      ),
    ...(client.tls !== undefined
      ? {
          probeTls: () =>
            probeTlsRefusal(
              { host: client.host ?? '127.0.0.1', port: client.port ?? 6379, tls: client.tls! },
              tuning.connectTimeoutMs,
            ),
        }
      : {}),
    describe: () => ({
      host: client.host,
      port: client.port,
      db: client.db ?? 0,
      tls: client.tls !== undefined,
    }),
  })
}

export type { CircuitBreakerOptions, CircuitStateName } from './resilience/breaker.js'
export { BREAKER_DEFAULTS, CircuitBreaker } from './resilience/breaker.js'
export type { RedisErrorCategory } from './resilience/classify.js'
export {
  CONNECTION_ERROR_CODES,
  classifyRedisError,
  FATAL_REPLY_CODES,
  haltOnAuthFailure,
  isAuthFailure,
  isFailoverSignal,
  isNodeFailure,
  isRetryableRedisError,
  isTlsFailure,
  RETRYABLE_REPLY_CODES,
  replyCode,
  TLS_ERROR_CODES,
  toFatalError,
} from './resilience/classify.js'
export type { QueuedInvalidation, ReplayQueueOptions } from './resilience/replay-queue.js'
export { REPLAY_QUEUE_DEFAULTS, ReplayQueue } from './resilience/replay-queue.js'
export type { RetryOptions } from './resilience/retry.js'
export { fullJitterDelay, RETRY_DEFAULTS, retryWithDeadline } from './resilience/retry.js'
export { scrubSecrets } from './resilience/secrets.js'
export { guardStreams } from './resilience/stream-guard.js'
export type { TlsProbeTarget } from './resilience/tls-probe.js'
export { probeTlsRefusal } from './resilience/tls-probe.js'
