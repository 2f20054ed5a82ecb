import {
  type BusMessage,
  type Fence,
  type FencedRead,
  type InvalidationResult,
  type RemoteStore,
  type StoreEntry,
  type StoreEvent,
  type StoreHealth,
  type StoreHealthState,
  type StoreListener,
  TierCacheError,
} from '@tiercache/core'
import type { Redis } from 'ioredis'
import { RedisInvalidationBus } from './bus.js'
import { DirectReads } from './direct-reads.js'
import { defineFenceCommands, type FenceCommands, fencedSetArgs, parseFencedRead } from './fences.js'
import type { RedisTuning } from './options.js'
import { CircuitBreaker } from './resilience/breaker.js'
import { classifyRedisError, isRetryableRedisError, toFatalError } from './resilience/classify.js'
import { type QueuedInvalidation, ReplayQueue } from './resilience/replay-queue.js'
import { retryWithDeadline } from './resilience/retry.js'

const APPLIED: InvalidationResult = Object.freeze({ status: 'applied' })
/** At most one TLS refusal probe a second (see `RedisStoreInit.probeTls`). */
const PROBE_INTERVAL_MS = 1_000

/** How a {@link RedisStore} gets its connections; Sentinel passes its own factory. */
export interface RedisStoreInit {
  /** 'redis', 'sentinel', … (telemetry). */
  readonly kind: string
  /**
   * Creates a connection (`lazyConnect: true`, offline queue off — see `baseClientOptions`). Called once
   * for 'command' and, on the first bus subscription, once for 'subscriber'.
   */
  readonly createClient: (role: 'command' | 'subscriber') => Redis
  readonly tuning: RedisTuning
  /** Extra health detail (address, master name). */
  readonly describe?: () => Record<string, unknown>
  /** Sees every invalidation-bus message from other instances before the engine does. */
  readonly onBusMessage?: (message: BusMessage) => void
  /**
   * Over TLS: asks the server, on a connection that writes nothing, whether it refuses this client (see
   * `probeTlsRefusal`). Called on every reconnect (a reset, a close), so a refused client certificate is
   * TLS_FAILED at once instead of hiding behind reconnects.
   */
  readonly probeTls?: () => Promise<Error | undefined>
}

/**
 * The remote tier on one ioredis connection (standalone; Sentinel reuses it with another connection
 * factory). Resilience per operation class:
 * - reads (`get`, `getMany`, `getGenerations`): one attempt, bounded by the command timeout, through the
 *   circuit breaker — they fail fast and the engine treats the failure as a miss;
 * - writes (`set`, `setMany`): short retry within `writeDeadlineMs`, then reported via `observe`
 *   (`{ type: 'error' }`); they never reject for availability;
 * - invalidations (`delete`, `bumpGenerations`, `clearPrefix`): retried within `invalidationDeadlineMs`,
 *   then queued and replayed on reconnect (and by a timer) — `{ status: 'queued', replayed }`.
 * Auth failures (NOAUTH / WRONGPASS) are fatal: `ready()` and every operation reject with AUTH_FAILED.
 */
export class RedisStore implements RemoteStore {
  readonly kind: string
  readonly bus: RedisInvalidationBus
  readonly client: Redis
  /** The same connection, with the fence scripts of "no stale sets" defined on it. */
  readonly fenced: Redis & FenceCommands
  readonly breaker: CircuitBreaker
  readonly replayQueue: ReplayQueue
  readonly tuning: RedisTuning
  readonly #init: RedisStoreInit
  readonly #listeners = new Set<StoreListener>()
  readonly #readyWaiters = new Set<{ resolve: () => void; reject: (error: unknown) => void }>()
  #everReady = false
  #fatal: TierCacheError | undefined
  #lastError: unknown
  readonly #probeTls: (() => Promise<Error | undefined>) | undefined
  #probing = false
  #probedAt = Number.NEGATIVE_INFINITY
  #closed = false
  #replayTimer: NodeJS.Timeout | undefined
  readonly #direct: DirectReads

  constructor(init: RedisStoreInit) {
    this.#init = init
    this.kind = init.kind
    this.tuning = init.tuning
    this.breaker = new CircuitBreaker({
      failureThreshold: init.tuning.breakerThreshold,
      halfOpenAfterMs: init.tuning.breakerHalfOpenAfterMs,
    })
    this.breaker.onStateChange((state) => this.emit({ type: 'circuit', state }))
    this.replayQueue = new ReplayQueue({
      maxSize: init.tuning.maxQueuedInvalidations,
      onOverflow: (dropped) => this.emit({ type: 'invalidation-overflow', dropped }),
    })
    this.#probeTls = init.probeTls
    this.client = init.createClient('command')
    this.fenced = defineFenceCommands(this.client)
    this.#direct = new DirectReads(this.client, init.tuning.commandTimeoutMs)
    // ioredis throws on an 'error' event without a listener: there is always one.
    this.client.on('error', (error: unknown) => this.#onConnectionError(error))
    this.client.on('ready', () => this.#onReady())
    // A refused client certificate shows as a reset (or a close without an error event): every reconnect
    // probes (at most one a second).
    if (this.#probeTls !== undefined) this.client.on('reconnecting', () => this.#probe())
    this.bus = new RedisInvalidationBus({
      publisher: () => this.client,
      createSubscriber: () => {
        const subscriber = init.createClient('subscriber')
        return subscriber
      },
      emit: (event) => this.emit(event),
      ...(init.onBusMessage !== undefined ? { onMessage: init.onBusMessage } : {}),
    })
  }

  // ── Connection state ─────────────────────────────────────────────────────────────────────────────────

  ready(): Promise<void> {
    return this.#waitReady(this.tuning.connectTimeoutMs)
  }

  #onReady(): void {
    this.#everReady = true
    this.#fatal = undefined
    for (const waiter of this.#readyWaiters) waiter.resolve()
    this.#readyWaiters.clear()
    if (this.replayQueue.size > 0) void this.#replay()
  }

  #onConnectionError(error: unknown): void {
    this.#lastError = error
    const fatal = toFatalError(error, `the ${this.kind} server`)
    if (fatal) {
      this.#fatal = fatal
      for (const waiter of this.#readyWaiters) waiter.reject(fatal)
      this.#readyWaiters.clear()
    }
    this.emit({ type: 'error', operation: 'connection', error: fatal ?? error })
  }

  /**
   * A reset over TLS may be a refused client certificate whose alert was lost: asks the server (one probe
   * at a time, at most one a second — during an outage each is one refused connect).
   */
  #probe(): void {
    if (this.#probeTls === undefined || this.#probing || this.#fatal !== undefined || this.#closed) return
    if (performance.now() - this.#probedAt < PROBE_INTERVAL_MS) return
    this.#probedAt = performance.now()
    this.#probing = true
    void this.#probeTls!()
      .then((refusal) => {
        if (refusal !== undefined && this.#fatal === undefined && !this.#closed && toFatalError(refusal)) {
          this.#onConnectionError(refusal)
          this.client.disconnect()
        }
      })
      .finally(() => {
        this.#probing = false
      })
  }

  /** Resolves when the connection is ready; rejects with the fatal error or STORE_UNAVAILABLE after `timeoutMs`. */
  #waitReady(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.reject(new TierCacheError('CLOSED', 'the store was closed'))
    if (this.#fatal) return Promise.reject(this.#fatal)
    if (this.client.status === 'ready') return Promise.resolve()
    if (this.client.status === 'wait') this.client.connect().catch(() => undefined)
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      }
      const timer = setTimeout(() => {
        this.#readyWaiters.delete(waiter)
        reject(
          new TierCacheError(
            'STORE_UNAVAILABLE',
            `the ${this.kind} server was not reachable within ${timeoutMs} ms`,
            { cause: this.#lastError },
          ),
        )
      }, timeoutMs)
      this.#readyWaiters.add(waiter)
    })
  }

  /**
   * What a command waits for before it is sent: nothing once connected (the hot path allocates nothing);
   * the first connect (bounded by the command timeout); never a reconnect — with the offline queue off a
   * command during a reconnect fails at once, which is the fast fail-open we want.
   */
  #gate(): Promise<void> | undefined {
    if (this.#fatal) return Promise.reject(this.#fatal)
    if (this.#closed) return Promise.reject(new TierCacheError('CLOSED', 'the store was closed'))
    if (this.#connected()) return undefined
    return this.#waitReady(this.tuning.commandTimeoutMs)
  }

  /** A command may be sent now: connected, or reconnecting after a first connect (it then fails at once). */
  #connected(): boolean {
    const status = this.client.status
    return status === 'ready' || (this.#everReady && status !== 'wait')
  }

  // ── Operation classes ────────────────────────────────────────────────────────────────────────────────

  /**
   * One attempt through the breaker; a fatal reply becomes AUTH_FAILED. The hot path — connected, circuit
   * closed — calls the command directly and records its outcome in the breaker with one `.then`: no
   * readiness promise, no cockatiel `execute` (two async layers and a result object per call).
   */
  protected read<T>(command: () => Promise<T>): Promise<T> {
    if (this.#fatal === undefined && !this.#closed && this.breaker.closed && this.#connected()) {
      let run: Promise<T>
      try {
        run = command()
      } catch (error) {
        run = Promise.reject(error)
      }
      return run.then(this.#readSucceeded as (value: T) => T, this.#readFailed)
    }
    const gate = this.#gate()
    const run =
      gate === undefined ? this.breaker.execute(command) : gate.then(() => this.breaker.execute(command))
    return run.catch((error: unknown) => {
      this.onCommandError(error)
      throw this.#remember(error)
    })
  }

  /**
   * Short retry within the write deadline, then the failure rejects: the engine reports it (an `error`
   * event, the caller's `set` still resolves) and deletes the key instead, since the server may still hold
   * the value this write was replacing.
   */
  protected async write(operation: string, command: () => Promise<unknown>): Promise<void> {
    try {
      await retryWithDeadline(() => this.#attempt(command), {
        deadlineMs: this.tuning.writeDeadlineMs,
        baseDelayMs: this.tuning.retryBaseDelayMs,
        maxDelayMs: this.tuning.retryMaxDelayMs,
        // An open circuit will not close within a write's small budget.
        shouldRetry: (error) =>
          isRetryableRedisError(error) && !(error instanceof TierCacheError && error.code === 'CIRCUIT_OPEN'),
        onRetry: ({ attempt, error }) => this.emit({ type: 'retry', operation, attempt, error }),
      })
    } catch (error) {
      throw this.#remember(error)
    }
  }

  /** Retry within the invalidation deadline, then queue for replay. Permanent errors (NOPERM, …) reject. */
  protected async invalidate<T extends object>(
    operation: string,
    queued: QueuedInvalidation,
    command: () => Promise<T>,
  ): Promise<(T & { status: 'applied' }) | InvalidationResult> {
    try {
      const result = await retryWithDeadline(() => this.#attempt(command), {
        deadlineMs: this.tuning.invalidationDeadlineMs,
        baseDelayMs: this.tuning.retryBaseDelayMs,
        maxDelayMs: this.tuning.retryMaxDelayMs,
        onRetry: ({ attempt, error }) => this.emit({ type: 'retry', operation, attempt, error }),
      })
      return { ...result, status: 'applied' }
    } catch (error) {
      const reported = this.#remember(error)
      if (classifyRedisError(reported) !== 'retryable') throw reported
      const replayed = this.replayQueue.enqueue(queued)
      this.emit({ type: 'invalidation-queued', operation, queueSize: this.replayQueue.size })
      this.#scheduleReplay()
      return { status: 'queued', replayed }
    }
  }

  // Bound once: the hot path allocates no handler per read.
  readonly #readSucceeded = (value: unknown): unknown => {
    this.breaker.onSuccess()
    return value
  }

  readonly #readFailed = (error: unknown): never => {
    this.breaker.onFailure(error)
    this.onCommandError(error)
    throw this.#remember(error)
  }

  #attempt<T>(command: () => Promise<T>): Promise<T> {
    const gate = this.#gate()
    const run =
      gate === undefined ? this.breaker.execute(command) : gate.then(() => this.breaker.execute(command))
    return run.catch((error: unknown) => {
      this.onCommandError(error)
      throw error
    })
  }

  /** Keeps the last error for health; turns NOAUTH/WRONGPASS replies into the fatal AUTH_FAILED. */
  #remember(error: unknown): unknown {
    this.#lastError = error
    const fatal = toFatalError(error, `the ${this.kind} server`)
    if (fatal) {
      this.#fatal = fatal
      return fatal
    }
    return error
  }

  /**
   * Called with every failed command attempt (reads, and each write/invalidation attempt). A no-op here; Sentinel overrides it to react to
   * `isFailoverSignal(error)` (re-resolve the master, emit `failover`).
   */
  protected onCommandError(_error: unknown): void {}

  // ── Replay ───────────────────────────────────────────────────────────────────────────────────────────

  #scheduleReplay(): void {
    if (this.#replayTimer || this.#closed) return
    this.#replayTimer = setInterval(() => {
      if (this.replayQueue.size === 0) {
        clearInterval(this.#replayTimer)
        this.#replayTimer = undefined
        return
      }
      if (this.client.status === 'ready') void this.#replay()
    }, this.tuning.replayIntervalMs)
    this.#replayTimer.unref()
  }

  /** One replay pass straight on the connection (not through the breaker: a success here is the probe). */
  async #replay(): Promise<void> {
    const count = await this.replayQueue.replay((op) => this.applyQueued(op))
    if (count > 0) this.emit({ type: 'invalidation-replayed', count })
  }

  /** Applies one queued invalidation (one attempt). Cluster overrides the commands, not this flow. */
  protected async applyQueued(op: QueuedInvalidation): Promise<void> {
    if (op.kind === 'delete') await this.unlinkKeys(op.keys, op.fence)
    else if (op.kind === 'bumpGenerations') await this.incrKeys(op.keys)
    else await this.scanUnlink(op.prefix, op.keepPrefix, op.fence)
  }

  // ── RemoteStore ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * The hot path (connected, circuit closed): a {@link DirectReads} GET with `read`'s bookkeeping inline —
   * one `.then` between the reply and the caller. Otherwise the plain path through `read`.
   */
  get(key: string): Promise<Uint8Array | undefined> {
    if (this.#fatal === undefined && !this.#closed && this.breaker.closed && this.#direct.available())
      return this.#direct.get(key).then(this.#gotBytes, this.#readFailed)
    return this.read(() => this.client.getBuffer(key)).then(orUndefined)
  }

  readonly #gotBytes = (bytes: Buffer | null): Buffer | undefined => {
    this.breaker.onSuccess()
    return bytes ?? undefined
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return []
    const chunks = chunk(keys, this.tuning.batchSize)
    const replies = await this.read(() => Promise.all(chunks.map((part) => this.client.mgetBuffer(...part))))
    return replies.flat().map((bytes) => bytes ?? undefined)
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    const bytes = toBuffer(value)
    const px = Math.max(1, Math.ceil(ttlMs))
    return this.write('set', () => this.client.set(key, bytes, 'PX', px))
  }

  setMany(entries: readonly StoreEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve()
    return this.write('setMany', async () => {
      const pipeline = this.client.pipeline()
      for (const entry of entries)
        pipeline.set(entry.key, toBuffer(entry.value), 'PX', Math.max(1, Math.ceil(entry.ttlMs)))
      throwFirst(await pipeline.exec())
    })
  }

  async delete(keys: readonly string[], fence?: Fence): Promise<InvalidationResult> {
    if (keys.length === 0) return APPLIED
    const queued: QueuedInvalidation =
      fence === undefined ? { kind: 'delete', keys: [...keys] } : { kind: 'delete', keys: [...keys], fence }
    const result = await this.invalidate('delete', queued, async () => {
      await this.unlinkKeys(keys, fence)
      return {}
    })
    return result.status === 'applied' ? APPLIED : result
  }

  /** MGET of the value and its fences: one command (they share a slot), one round trip. */
  getFenced(key: string, fence: readonly string[]): Promise<FencedRead> {
    if (this.#fatal === undefined && !this.#closed && this.breaker.closed && this.#direct.available())
      return this.#direct.mget([key, ...fence]).then(this.#gotFenced, this.#readFailed)
    return this.read(() => this.client.mgetBuffer(key, ...fence)).then(parseFencedRead)
  }

  readonly #gotFenced = (reply: Array<Buffer | null>): FencedRead => {
    this.breaker.onSuccess()
    return parseFencedRead(reply)
  }

  /** One attempt (a loader's write is a cache fill: not worth a retry), through the breaker. */
  setFenced(entry: StoreEntry, fence: readonly string[], expected: readonly number[]): Promise<boolean> {
    const px = Math.max(1, Math.ceil(entry.ttlMs))
    return this.read(() =>
      this.fenced.tiercacheFencedSet(...fencedSetArgs(entry.key, toBuffer(entry.value), px, fence, expected)),
    ).then((written) => Number(written) === 1)
  }

  async getGenerations(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return []
    const chunks = chunk(keys, this.tuning.batchSize)
    const replies = await this.read(() => Promise.all(chunks.map((part) => this.client.mget(...part))))
    return replies.flat().map((text) => (text == null ? 0 : Number.parseInt(text, 10) || 0))
  }

  async bumpGenerations(keys: readonly string[]): Promise<InvalidationResult & { generations?: number[] }> {
    if (keys.length === 0) return { status: 'applied', generations: [] }
    return this.invalidate('bumpGenerations', { kind: 'bumpGenerations', keys: [...keys] }, async () => ({
      generations: await this.incrKeys(keys),
    }))
  }

  async clearPrefix(prefix: string, keepPrefix?: string, fence?: Fence): Promise<InvalidationResult> {
    const queued = clearOp(prefix, keepPrefix, fence)
    const result = await this.invalidate('clearPrefix', queued, async () => {
      await this.scanUnlink(prefix, keepPrefix, fence)
      return {}
    })
    return result.status === 'applied' ? APPLIED : result
  }

  // ── Commands (one attempt each; Cluster overrides these for per-node routing) ──────────────────────────

  /** UNLINK; with a fence, one script per key that also bumps its fence (one pipeline). */
  protected async unlinkKeys(keys: readonly string[], fence?: Fence): Promise<void> {
    if (fence === undefined) {
      await Promise.all(chunk(keys, this.tuning.batchSize).map((part) => this.client.unlink(...part)))
      return
    }
    const px = Math.max(1, Math.ceil(fence.ttlMs))
    const pipeline = this.fenced.pipeline() as unknown as FencePipeline
    for (let i = 0; i < keys.length; i++) pipeline.tiercacheFencedDelete(keys[i]!, fence.keys[i]!, px)
    throwFirst(await pipeline.exec())
  }

  /** Bumps fence keys (a clear's), one pipeline. */
  protected async bumpFences(fence: Fence): Promise<void> {
    const px = Math.max(1, Math.ceil(fence.ttlMs))
    for (const part of chunk(fence.keys, this.tuning.batchSize)) {
      const pipeline = this.fenced.pipeline() as unknown as FencePipeline
      for (const key of part) pipeline.tiercacheFenceBump(key, px)
      throwFirst(await pipeline.exec())
    }
  }

  /** INCR every key in one pipeline; the new generations in key order. */
  protected async incrKeys(keys: readonly string[]): Promise<number[]> {
    const pipeline = this.client.pipeline()
    for (const key of keys) pipeline.incr(key)
    return throwFirst(await pipeline.exec()).map((value) => Number(value))
  }

  /** SCAN MATCH <escaped prefix>* COUNT batch, UNLINK what does not start with keepPrefix. Never KEYS. */
  protected async scanUnlink(prefix: string, keepPrefix?: string, fence?: Fence): Promise<void> {
    // Fences first: a load that read them before this clear can no longer write what the scan removed.
    if (fence !== undefined) await this.bumpFences(fence)
    const pattern = `${escapeGlob(prefix)}*`
    const keep = keepPrefix === undefined ? undefined : Buffer.from(keepPrefix)
    let cursor = '0'
    do {
      const [next, keys] = await this.client.scanBuffer(
        cursor,
        'MATCH',
        pattern,
        'COUNT',
        this.tuning.batchSize,
      )
      cursor = next.toString()
      const doomed = keep === undefined ? keys : keys.filter((key) => !startsWith(key, keep))
      if (doomed.length > 0) await this.client.unlink(...doomed)
    } while (cursor !== '0')
  }

  // ── Events, health, close ────────────────────────────────────────────────────────────────────────────

  observe(listener: StoreListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Reports an event to every observer (Sentinel/Cluster report failovers and topology through it). */
  emit(event: StoreEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch {
        // An observer's bug must not break the store.
      }
    }
  }

  health(): StoreHealth {
    const circuit = this.breaker.state
    let state: StoreHealthState
    if (this.#closed) state = 'closed'
    else if (this.#fatal) state = 'down'
    else if (this.client.status === 'ready') state = circuit === 'closed' ? 'ready' : 'degraded'
    else if (!this.#everReady) state = 'connecting'
    else state = 'down'
    const lastError = this.#fatal ?? this.#lastError
    return {
      state,
      circuit,
      queuedInvalidations: this.replayQueue.size,
      detail: {
        connection: this.client.status,
        subscriber: this.bus.state,
        ...this.#init.describe?.(),
        ...(lastError !== undefined ? { lastError: String((lastError as Error)?.message ?? lastError) } : {}),
      },
    }
  }

  /** Gives queued invalidations one short chance to replay, then drops the rest and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.replayQueue.size > 0 && this.client.status === 'ready') {
      await Promise.race([this.#replay(), sleep(Math.min(500, this.tuning.commandTimeoutMs))])
    }
    this.#closed = true
    clearInterval(this.#replayTimer)
    this.#direct.close()
    this.replayQueue.close()
    for (const waiter of this.#readyWaiters)
      waiter.reject(new TierCacheError('CLOSED', 'the store was closed'))
    this.#readyWaiters.clear()
    await this.bus.close()
    if (this.client.status === 'ready') {
      await Promise.race([this.client.quit().catch(() => undefined), sleep(200)])
    }
    this.client.disconnect()
  }
}

/** Escapes the glob characters of SCAN MATCH (`* ? [ ] \`), so a prefix matches literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

function startsWith(key: Buffer, prefix: Buffer): boolean {
  return key.length >= prefix.length && key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
}

function orUndefined(bytes: Buffer | null): Buffer | undefined {
  return bytes ?? undefined
}

/** A pipeline with the fence scripts (ioredis adds defined commands to pipelines at runtime). */
interface FencePipeline {
  tiercacheFencedDelete(value: string, fence: string, px: number): FencePipeline
  tiercacheFenceBump(fence: string, px: number): FencePipeline
  exec(): Promise<Array<[Error | null, unknown]> | null>
}

/** The queued form of a clear. */
export function clearOp(prefix: string, keepPrefix?: string, fence?: Fence): QueuedInvalidation {
  return {
    kind: 'clearPrefix',
    prefix,
    ...(keepPrefix !== undefined ? { keepPrefix } : {}),
    ...(fence !== undefined ? { fence } : {}),
  }
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  if (items.length <= size) return [items as T[]]
  const parts: T[][] = []
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size))
  return parts
}

/** Pipeline results → values; throws the first command error. */
function throwFirst(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new Error('Connection is closed.')
  return results.map(([error, value]) => {
    if (error) throw error
    return value
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
