import type { BusMessage, BusSubscriber, InvalidationBus, StoreEvent } from '@tiercache/core'
import { guardStreams, retryWithDeadline } from '@tiercache/redis'
import { type Cluster, Redis } from 'ioredis'
import type { ResolvedClusterOptions } from './options.js'

const HEARTBEAT_MS = 1000

/**
 * The invalidation bus on a cluster: classic PUBLISH/SUBSCRIBE.
 *
 * Why classic and not sharded (SPUBLISH/SSUBSCRIBE, Redis 7+): a classic PUBLISH on any node is forwarded
 * over the cluster bus to every node, so one subscription on any node — master or replica — hears every
 * message, whatever resharding or failover does to slots. Sharded pub/sub is cheaper per message but binds
 * the channel to its slot's shard: a subscriber must follow that slot through migrations and failovers
 * (the server drops sharded subscriptions when the slot moves), and it needs Redis ≥ 7 / Valkey. tiercache
 * publishes only on invalidations, so the broadcast cost is small, and "works everywhere, never silently
 * unsubscribed" is worth more here.
 *
 * The subscription is our own connection (not ioredis's cluster subscriber) so that every way of losing
 * messages is seen: the connection ends, or the node stops answering (a heartbeat PING with a timeout —
 * a paused node keeps its socket open). Then another node is picked, the channels are subscribed again,
 * and every subscriber gets `onResync` (it may have missed messages).
 */
export class ClusterBus implements InvalidationBus {
  readonly #cluster: Cluster
  readonly #options: ResolvedClusterOptions
  readonly #emit: (event: StoreEvent) => void
  readonly #channels = new Map<string, Set<BusSubscriber>>()
  #connection: Redis | undefined
  #subscribedOnce = false
  #closed = false
  #heartbeat: NodeJS.Timeout | undefined
  #reselect: NodeJS.Timeout | undefined

  constructor(cluster: Cluster, options: ResolvedClusterOptions, emit: (event: StoreEvent) => void) {
    this.#cluster = cluster
    this.#options = options
    this.#emit = emit
  }

  /** Node the subscription lives on, for health details. */
  get node(): string | undefined {
    const connection = this.#connection
    return connection ? `${connection.options.host}:${connection.options.port}` : undefined
  }

  async publish(channel: string, message: BusMessage): Promise<void> {
    if (this.#closed) return
    try {
      await retryWithDeadline(() => this.#cluster.publish(channel, JSON.stringify(message)), {
        deadlineMs: this.#options.writeDeadlineMs,
      })
    } catch (error) {
      this.#emit({ type: 'error', operation: 'publish', error })
    }
  }

  subscribe(channel: string, subscriber: BusSubscriber): () => void {
    let set = this.#channels.get(channel)
    if (set === undefined) {
      set = new Set()
      this.#channels.set(channel, set)
      if (this.#connection?.status === 'ready') this.#connection.subscribe(channel).catch(() => this.#lost())
    }
    set.add(subscriber)
    this.#ensureConnection()
    return () => {
      const current = this.#channels.get(channel)
      if (current === undefined) return
      current.delete(subscriber)
      if (current.size === 0) {
        this.#channels.delete(channel)
        this.#connection?.unsubscribe(channel).catch(() => undefined)
      }
    }
  }

  /** Called by the store when the cluster client (re)gains its topology: a good time to subscribe. */
  poke(): void {
    this.#ensureConnection()
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    clearTimeout(this.#reselect)
    this.#connection?.disconnect()
    this.#connection = undefined
  }

  #ensureConnection(): void {
    if (this.#closed || this.#connection !== undefined || this.#channels.size === 0) return
    // Any node will do (classic pub/sub is cluster-wide); prefer one the client is connected to.
    const nodes = this.#cluster.nodes('all')
    const live = nodes.filter((node) => node.status === 'ready')
    const pool = live.length > 0 ? live : nodes
    const target = pool[Math.floor(Math.random() * pool.length)]
    if (target === undefined) {
      this.#scheduleReselect()
      return
    }
    const connection = guardStreams(
      new Redis({
        host: target.options.host,
        port: target.options.port,
        ...(this.#options.username !== undefined ? { username: this.#options.username } : {}),
        ...(this.#options.password !== undefined ? { password: this.#options.password } : {}),
        ...(this.#options.tls !== undefined ? { tls: this.#options.tls } : {}),
        connectTimeout: this.#options.connectTimeoutMs,
        // The heartbeat needs a bounded PING; a reconnect goes to a freshly picked node instead.
        commandTimeout: HEARTBEAT_MS,
        retryStrategy: () => null,
        autoResubscribe: false,
        maxRetriesPerRequest: 0,
        connectionName: 'tiercache-bus',
        // Connected below, once guarded and listened to (guardStreams wraps the connect).
        lazyConnect: true,
      }),
    )
    this.#connection = connection
    connection.on('error', () => undefined)
    connection.on('end', () => {
      if (this.#connection === connection) this.#lost()
    })
    connection.on('message', (channel: string, text: string) => this.#deliver(channel, text))
    connection.once('ready', () => {
      const channels = [...this.#channels.keys()]
      if (channels.length === 0) return
      connection.subscribe(...channels).then(
        () => {
          if (this.#connection !== connection) return
          if (this.#subscribedOnce) {
            // Messages published while we were not subscribed are lost: drop local state.
            for (const set of this.#channels.values()) for (const subscriber of set) subscriber.onResync()
            this.#emit({ type: 'topology', detail: { bus: 'resubscribed', node: this.node } })
          }
          this.#subscribedOnce = true
          this.#startHeartbeat(connection)
        },
        () => this.#lost(),
      )
    })
    // A failed connect ends the connection ('end' above picks another node).
    connection.connect().catch(() => undefined)
  }

  #startHeartbeat(connection: Redis): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = setInterval(() => {
      connection.ping().catch(() => {
        if (this.#connection === connection) this.#lost()
      })
    }, HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  /** The subscription is gone or silent: drop it and pick another node soon. */
  #lost(): void {
    const connection = this.#connection
    this.#connection = undefined
    clearInterval(this.#heartbeat)
    connection?.disconnect()
    this.#scheduleReselect()
  }

  #scheduleReselect(): void {
    if (this.#closed || this.#reselect !== undefined) return
    this.#reselect = setTimeout(
      () => {
        this.#reselect = undefined
        this.#ensureConnection()
      },
      100 + Math.floor(Math.random() * 200),
    )
    this.#reselect.unref()
  }

  #deliver(channel: string, text: string): void {
    const set = this.#channels.get(channel)
    if (set === undefined) return
    let message: BusMessage
    try {
      message = JSON.parse(text) as BusMessage
    } catch (error) {
      this.#emit({ type: 'error', operation: 'bus-message', error })
      return
    }
    for (const subscriber of set) subscriber.onMessage(message)
  }
}
