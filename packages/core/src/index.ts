export { parseStoreUrl, redactUrl } from './config/store-url.js'
export type {
  Cache,
  CacheOptions,
  GetOrSetOptions,
  L1Options,
  Loader,
  LoaderTimeouts,
  SetManyItem,
  SetOptions,
} from './create-cache.js'
export { createCache } from './create-cache.js'
export type { Duration } from './duration.js'
export { parseDuration, parseTtl } from './duration.js'
export type { ErrorCode } from './errors.js'
export { ErrorCodes, isFatalError, isTierCacheError, TierCacheError } from './errors.js'
export type { CacheEventName, CacheEvents, CacheListener, StaleReason, Tier } from './events.js'
export { RESERVED_PREFIX } from './keys.js'
export type { Serializer, SerializerOption } from './serializers/serializer.js'
export { jsonSerializer, msgpackSerializer } from './serializers/serializer.js'
export { MemoryStore } from './store/memory-store.js'
export type {
  BusMessage,
  BusSubscriber,
  InvalidationBus,
  InvalidationResult,
  ParsedStoreUrl,
  RemoteStore,
  StoreAdapterModule,
  StoreConfig,
  StoreEntry,
  StoreEvent,
  StoreHealth,
  StoreHealthState,
  StoreListener,
} from './store/remote-store.js'
export { APPLIED } from './store/remote-store.js'
export type { StoreOption, StoreOptions } from './store/resolve-store.js'
