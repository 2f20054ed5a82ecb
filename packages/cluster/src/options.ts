import type { ConnectionOptions } from 'node:tls'
import type { StoreConfig } from '@tiercache/core'
import { assertKnownParams, TierCacheError } from '@tiercache/core'
import {
  CONSISTENCY_PARAMS,
  type Consistency,
  type ConsistencyOptions,
  FENCE_SCRIPTS,
  resolveConsistency,
  resolveTls,
} from '@tiercache/redis'
import type { ClusterOptions, NatMap } from 'ioredis'

/** A seed node: any node of the cluster; one that answers is enough to learn the whole topology. */
export interface ClusterNodeAddress {
  readonly host: string
  readonly port: number
}

/**
 * Options of `redis+cluster://` / `{ type: 'cluster', … }`. Everything is optional except the seed nodes
 * (from the URL or `nodes`). Durations are milliseconds.
 */
export interface ClusterStoreOptions {
  /** Seed nodes (`{ host, port }` or `'host:port'`); the URL's host list when a URL is given. */
  nodes?: ReadonlyArray<ClusterNodeAddress | string>
  username?: string
  password?: string
  /** Node TLS options (`ca`, `cert`, `key`, `servername`, …) or true; `rediss+cluster://` turns it on. */
  tls?: boolean | Record<string, unknown>
  /**
   * Address translation for nodes that announce addresses the client cannot reach (NAT, Docker, k8s):
   * `{ '10.0.0.5:7000': { host: 'public', port: 7000 } }` or a function. Passed to ioredis.
   */
  natMap?: NatMap
  /**
   * Where reads go: 'master' (default), 'slave' or 'all'. Replica reads trade freshness for load: a
   * replica may answer with a value that was just invalidated on its master (replication lag), so the
   * default keeps "invalidated means gone" exact.
   */
  scaleReads?: 'master' | 'slave' | 'all'
  /** Timeout of one command attempt on one node (default 500). */
  commandTimeoutMs?: number
  /** TCP/TLS connect timeout per node (default 1000). */
  connectTimeoutMs?: number
  /** Budget of a read (get/getMany/getGenerations) including retries (default 1000). */
  readDeadlineMs?: number
  /** Budget of a write (set/setMany) including retries (default 1000). */
  writeDeadlineMs?: number
  /** Budget of an invalidation before it is queued for replay (default 3000). */
  invalidationDeadlineMs?: number
  /** How long `ready()` waits for the first topology before it rejects with the diagnosis (default 5000). */
  readyTimeoutMs?: number
  /** Timeout of one CLUSTER SLOTS refresh (default 1000). */
  slotsRefreshTimeoutMs?: number
  /** Period of the background topology refresh (default 5000). */
  slotsRefreshIntervalMs?: number
  /** Most MOVED/ASK hops one command follows (default 16). */
  maxRedirections?: number
  /** Most keys in one MGET/UNLINK (larger slot groups are split; default 500). */
  maxKeysPerCommand?: number
  /**
   * `'async'` (default) or `'replicated'`: every invalidation is followed, on each master it touched, by
   * `WAIT waitReplicas waitTimeoutMs` on the connection that carried it, and counts as applied only once
   * that many replicas of that master acknowledged it (else it is retried, then queued and replayed).
   */
  consistency?: Consistency
  /** Replicas per master that must acknowledge an invalidation under `'replicated'` (default 1; 0: no WAIT). */
  waitReplicas?: number
  /** How long one `WAIT` may block its master connection (default 500). */
  waitTimeoutMs?: number
}

/** The options after defaults and validation. */
export interface ResolvedClusterOptions extends ConsistencyOptions {
  readonly nodes: readonly ClusterNodeAddress[]
  readonly username: string | undefined
  readonly password: string | undefined
  readonly tls: ConnectionOptions | undefined
  readonly natMap: NatMap | undefined
  readonly scaleReads: 'master' | 'slave' | 'all'
  readonly commandTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly readDeadlineMs: number
  readonly writeDeadlineMs: number
  readonly invalidationDeadlineMs: number
  readyTimeoutMs: number
  readonly slotsRefreshTimeoutMs: number
  readonly slotsRefreshIntervalMs: number
  readonly maxRedirections: number
  readonly maxKeysPerCommand: number
}

const DEFAULTS = {
  commandTimeoutMs: 500,
  connectTimeoutMs: 1000,
  readDeadlineMs: 1000,
  writeDeadlineMs: 1000,
  invalidationDeadlineMs: 3000,
  readyTimeoutMs: 5000,
  slotsRefreshTimeoutMs: 1000,
  slotsRefreshIntervalMs: 5000,
  maxRedirections: 16,
  maxKeysPerCommand: 500,
} as const

type DurationOption = keyof typeof DEFAULTS

/** URL query parameters accepted by `redis+cluster://…?name=value` (same names as the options). */
const URL_NUMBER_PARAMS: readonly DurationOption[] = Object.keys(DEFAULTS) as DurationOption[]

/**
 * Reads `config` (URL + options form, or options form alone) into validated options. Throws INVALID_URL /
 * INVALID_OPTION synchronously, so a misconfiguration is loud.
 */
export function resolveClusterOptions(config: StoreConfig): ResolvedClusterOptions {
  const options = config as StoreConfig & ClusterStoreOptions
  const parsed = config.parsed
  const params = parsed?.params ?? {}
  assertKnownParams(parsed, [...URL_NUMBER_PARAMS, 'scaleReads', ...CONSISTENCY_PARAMS], '@tiercache/cluster')

  let nodes: ClusterNodeAddress[]
  if (parsed !== undefined && parsed.hosts.length > 0) {
    nodes = parsed.hosts.map((host) => ({ host: host.host, port: host.port }))
  } else if (Array.isArray(options.nodes) && options.nodes.length > 0) {
    nodes = options.nodes.map(toAddress)
  } else {
    throw new TierCacheError(
      'INVALID_OPTION',
      `a cluster store needs seed nodes: a redis+cluster://h1:7000,h2:7001 URL or nodes: [{ host, port }]`,
    )
  }

  const scaleReads = options.scaleReads ?? params.scaleReads ?? 'master'
  if (scaleReads !== 'master' && scaleReads !== 'slave' && scaleReads !== 'all') {
    throw new TierCacheError(
      'INVALID_OPTION',
      `scaleReads must be 'master', 'slave' or 'all', not ${JSON.stringify(scaleReads)}`,
    )
  }

  const tls = resolveTls(options.tls, parsed?.tls ?? false)
  const consistency = resolveConsistency(
    options,
    params,
    (message) => new TierCacheError('INVALID_OPTION', `@tiercache/cluster: ${message}`),
  )

  const numbers = {} as Record<DurationOption, number>
  for (const name of URL_NUMBER_PARAMS) {
    const raw = options[name] ?? params[name]
    if (raw === undefined) {
      numbers[name] = DEFAULTS[name]
      continue
    }
    const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new TierCacheError('INVALID_OPTION', `${name} must be a positive integer, not ${String(raw)}`)
    }
    numbers[name] = value
  }

  const username = options.username ?? parsed?.username
  const password = options.password ?? parsed?.password
  return {
    nodes,
    username,
    password,
    tls,
    natMap: options.natMap,
    scaleReads,
    ...numbers,
    ...consistency,
  }
}

function toAddress(node: ClusterNodeAddress | string): ClusterNodeAddress {
  if (typeof node === 'string') {
    const colon = node.lastIndexOf(':')
    const port = Number(node.slice(colon + 1))
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new TierCacheError('INVALID_OPTION', `bad cluster node '${node}' (expected host:port)`)
    return { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port }
  }
  if (
    typeof node !== 'object' ||
    node === null ||
    typeof node.host !== 'string' ||
    node.host === '' ||
    !Number.isInteger(node.port) ||
    node.port < 1 ||
    node.port > 65535
  ) {
    throw new TierCacheError(
      'INVALID_OPTION',
      `bad cluster node ${JSON.stringify(node)} (expected { host, port })`,
    )
  }
  return { host: node.host, port: node.port }
}

/** Reconnect delay of the whole cluster client: exponential up to 2 s, full jitter; never gives up. */
export function clusterReconnectDelay(times: number): number {
  const ceiling = Math.min(2000, 50 * 2 ** Math.min(times, 10))
  return Math.max(20, Math.floor(Math.random() * ceiling))
}

/**
 * The ioredis Cluster options. The choices that keep every call bounded and the retries ours:
 * - `enableOfflineQueue: false`: nothing waits in an unbounded queue while the cluster is unreachable;
 *   the store waits for readiness itself, up to the operation's deadline.
 * - `retryDelayOnFailover: 0`, `retryDelayOnClusterDown: 0`: ioredis would retry these up to
 *   `maxRedirections` times on its own, past our deadline — a late SET could then land after a DELETE.
 *   The store retries them instead (backoff, full jitter, deadline, breaker), after a topology refresh.
 * - MOVED/ASK are followed by ioredis at once (bounded by `maxRedirections`); TRYAGAIN (a multi-key command
 *   on a slot that is half migrated) is retried by ioredis after `retryDelayOnTryAgain`.
 * - `commandTimeout` on every node connection: a paused or partitioned master costs one timeout.
 * - The fence scripts ("no stale sets") skip auto-pipelining: in an auto-pipeline, a MOVED for one script
 *   next to another command's success comes back as an error instead of being followed.
 */
export function toIoredisOptions(options: ResolvedClusterOptions): ClusterOptions {
  return {
    enableOfflineQueue: false,
    enableReadyCheck: true,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: [...FENCE_SCRIPTS],
    scaleReads: options.scaleReads,
    maxRedirections: options.maxRedirections,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 50,
    slotsRefreshTimeout: options.slotsRefreshTimeoutMs,
    slotsRefreshInterval: options.slotsRefreshIntervalMs,
    clusterRetryStrategy: clusterReconnectDelay,
    lazyConnect: true,
    ...(options.natMap !== undefined ? { natMap: options.natMap } : {}),
    redisOptions: {
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      // One attempt per call on a node connection; retries are the store's (bounded by its deadline).
      maxRetriesPerRequest: 0,
      connectionName: 'tiercache',
    },
  }
}

/** `host:port` list for messages. */
export function describeNodes(nodes: readonly ClusterNodeAddress[]): string {
  return nodes.map((node) => `${node.host}:${node.port}`).join(', ')
}
