export type { EnvVariable } from './config/env.js'
export { cacheOptionsFromEnv, ENV_VARIABLES } from './config/env.js'
export { assertKnownParams, parseStoreUrl, redactUrl } from './config/store-url.js'
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
export type { CacheSource } from './decorators/cache-source.js'
export type { CachedOptions } from './decorators/cached.js'
export { Cached } from './decorators/cached.js'
export type { ArgsMatch, AsyncMethodDecorator } from './decorators/decorator-kind.js'
export { defaultKey, encodeArgs, HASH_ENCODINGS_OVER_BYTES } from './decorators/default-key.js'
export type { InvalidateOptions, OneOrMany } from './decorators/invalidate.js'
export { Invalidate } from './decorators/invalidate.js'
export type { Duration } from './duration.js'
export { parseDuration, parseTtl } from './duration.js'
export type { ErrorCode } from './errors.js'
export { ErrorCodes, isFatalError, isTierCacheError, TierCacheError } from './errors.js'
export type { CacheEventName, CacheEvents, CacheListener, StaleReason, Tier } from './events.js'
export { RESERVED_PREFIX } from './keys.js'
export { keySlot } from './keyspace/key-slot.js'
export type { Serializer, SerializerOption } from './serializers/serializer.js'
export { jsonSerializer, msgpackSerializer } from './serializers/serializer.js'
export { MemoryStore } from './store/memory-store.js'
export type {
  BusMessage,
  BusSubscriber,
  Fence,
  FencedRead,
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
export { APPLIED, UNAVAILABLE } from './store/remote-store.js'
export type { StoreOption, StoreOptions } from './store/resolve-store.js'
export { refreshTelemetry } from './telemetry/activity.js'
export type { TelemetryOptions } from './telemetry/cache-telemetry.js'
export type { LogFn, TierCacheLogger } from './telemetry/logger.js'
export type { CacheOperation } from './telemetry/names.js'
export { TelemetryNames } from './telemetry/names.js'
