import type { BusMessage, BusSubscriber, InvalidationBus, StoreEvent } from '@tiercache/core'
import type { Redis } from 'ioredis'
import { toFatalError } from './resilience/classify.js'

export interface RedisBusInit {
  /** The connection PUBLISH goes through (the store's command connection). */
  readonly publisher: () => Redis
  /** Creates the dedicated subscriber connection (called once, on the first subscribe). */
  readonly createSubscriber: () => Redis
  /** Where failures are reported (the store's observe). */
  readonly emit: (event: StoreEvent) => void
  /** Sees every valid message before the subscribers do (a store that must react to others' writes). */
  readonly onMessage?: (message: BusMessage) => void
}

/**
 * The invalidation bus on Redis pub/sub. Messages are JSON `BusMessage`s on channels the engine names
 * (`<ns>:__tc:bus`, so `&<ns>:*` ACL rights suffice).
 *
 * - A dedicated subscriber connection, connected lazily on the first `subscribe`.
 * - `publish` is fail-open: it always resolves; a failure is reported as `{ type: 'error', operation: 'publish' }`.
 * - Pub/sub is fire-and-forget, so messages sent while the subscriber was away are lost. After every
 *   (re)connect that follows a disconnect or a failed first attempt, the channels are subscribed again
 *   and only THEN every subscriber's `onResync()` is called (so nothing slips between the two).
 */
export class RedisInvalidationBus implements InvalidationBus {
  readonly #init: RedisBusInit
  readonly #channels = new Map<string, Set<BusSubscriber>>()
  #subscriber: Redis | undefined
  /** A message may have been missed since the last successful subscription. */
  #mayHaveMissed = false
  #closed = false

  constructor(init: RedisBusInit) {
    this.#init = init
  }

  publish(channel: string, message: BusMessage): Promise<void> {
    let payload: string
    try {
      payload = JSON.stringify(message)
      return this.#init
        .publisher()
        .publish(channel, payload)
        .then(
          () => undefined,
          (error: unknown) => this.#init.emit({ type: 'error', operation: 'publish', error }),
        )
    } catch (error) {
      this.#init.emit({ type: 'error', operation: 'publish', error })
      return Promise.resolve()
    }
  }

  subscribe(channel: string, subscriber: BusSubscriber): () => void {
    let set = this.#channels.get(channel)
    const fresh = set === undefined
    if (!set) {
      set = new Set()
      this.#channels.set(channel, set)
    }
    set.add(subscriber)
    const connection = this.#connection()
    if (fresh && connection?.status === 'ready') {
      connection.subscribe(channel).catch((error: unknown) => this.#fail('subscribe', error))
    }
    return () => {
      const current = this.#channels.get(channel)
      if (!current?.delete(subscriber) || current.size > 0) return
      this.#channels.delete(channel)
      if (this.#subscriber?.status === 'ready') this.#subscriber.unsubscribe(channel).catch(() => undefined)
    }
  }

  /** Subscriber connection state, for health. */
  get state(): string {
    return this.#subscriber?.status ?? 'idle'
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#channels.clear()
    this.#subscriber?.disconnect()
  }

  #connection(): Redis | undefined {
    if (this.#closed) return undefined
    if (this.#subscriber) return this.#subscriber
    const connection = this.#init.createSubscriber()
    this.#subscriber = connection
    connection.on('error', (error: unknown) => {
      this.#mayHaveMissed = true
      // toFatalError also masks the password a rejected handshake leaves in the error.
      this.#init.emit({
        type: 'error',
        operation: 'subscribe',
        error: toFatalError(error, 'the bus subscriber') ?? error,
      })
    })
    connection.on('close', () => {
      this.#mayHaveMissed = true
    })
    connection.on('ready', () => this.#onReady(connection))
    connection.on('message', (channel: string, text: string) => this.#deliver(channel, text))
    connection.connect().catch(() => undefined)
    return connection
  }

  async #onReady(connection: Redis): Promise<void> {
    const channels = [...this.#channels.keys()]
    try {
      if (channels.length > 0) await connection.subscribe(...channels)
    } catch (error) {
      // The connection is sick again; the next 'ready' retries.
      this.#fail('subscribe', error)
      return
    }
    if (!this.#mayHaveMissed) return
    this.#mayHaveMissed = false
    for (const subscribers of this.#channels.values())
      for (const subscriber of subscribers) safely(() => subscriber.onResync())
  }

  #deliver(channel: string, text: string): void {
    const subscribers = this.#channels.get(channel)
    if (!subscribers || subscribers.size === 0) return
    let message: BusMessage
    try {
      message = JSON.parse(text) as BusMessage
      if (typeof message !== 'object' || message === null || typeof message.origin !== 'string')
        throw new Error('not a tiercache bus message')
    } catch (error) {
      this.#init.emit({ type: 'error', operation: 'bus-message', error })
      return
    }
    const tap = this.#init.onMessage
    if (tap !== undefined) safely(() => tap(message))
    for (const subscriber of subscribers) safely(() => subscriber.onMessage(message))
  }

  #fail(operation: string, error: unknown): void {
    this.#mayHaveMissed = true
    this.#init.emit({ type: 'error', operation, error })
  }
}

function safely(fn: () => void): void {
  try {
    fn()
  } catch {
    // A subscriber's bug must not stop delivery to the others.
  }
}
