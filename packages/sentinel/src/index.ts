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
