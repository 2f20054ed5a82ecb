import { guardStreams, haltOnAuthFailure } from '@tiercache/redis'
import { Redis } from 'ioredis'
import type { ResolvedSentinelOptions } from './options.js'

/** A master switch, as reported through the store's `observe` (`{ type: 'failover', detail }`). */
export interface FailoverNotice {
  /** `host:port` of the previous master, when known. */
  readonly from: string | undefined
  /** `host:port` of the new master. */
  readonly to: string
  /** Who told us first: a sentinel's `+switch-master`, or our connection landing on another node. */
  readonly via: 'switch-master' | 'reconnect'
  /** When it was noticed (epoch ms). */
  readonly at: number
}

/** What the detector tells its owner. */
export interface FailoverDetectorHooks {
  onFailover(notice: FailoverNotice): void
  /** The sentinels declared the master objectively down: a failover is under way. */
  onMasterDown?(address: string): void
  /**
   * A connection to a sentinel failed (`error`) or came up (`undefined`). ioredis' own sentinel lookups
   * swallow the cause (a refused certificate reaches the data connection as "Connection is closed"); these
   * connections use the same credentials and TLS options, so they can tell the owner why.
   */
  onSentinelStatus?(sentinel: string, error: unknown): void
}

const CHANNELS = ['+switch-master', '+odown'] as const

/**
 * Watches for master switches two ways, because either can be missed:
 * 1. a subscription to `+switch-master` / `+odown` on every configured sentinel — the earliest signal, and
 *    the only one that names both the old and the new master;
 * 2. the data connections themselves: when a connection becomes ready on a node other than the last known
 *    master, the master moved (covers sentinels that were unreachable when the switch was announced).
 * Duplicates (every sentinel publishes the same switch) are dropped: a switch is reported once per new master.
 */
export class FailoverDetector {
  readonly #options: ResolvedSentinelOptions
  readonly #hooks: FailoverDetectorHooks
  readonly #subscribers: Redis[] = []
  #master: string | undefined
  #closed = false

  constructor(options: ResolvedSentinelOptions, hooks: FailoverDetectorHooks) {
    this.#options = options
    this.#hooks = hooks
  }

  /** The master as last seen (`host:port`), if any. */
  get master(): string | undefined {
    return this.#master
  }

  /** Starts the sentinel subscriptions. Failures are reported, never thrown: the connections still work. */
  start(): void {
    const o = this.#options
    for (const sentinel of o.sentinels) {
      // A sentinel that refuses the password is not retried every 2 s forever (AUTH_FAILED is reported).
      const client = haltOnAuthFailure(
        guardStreams(
          new Redis({
            host: sentinel.host,
            port: sentinel.port,
            ...(o.sentinelUsername !== undefined ? { username: o.sentinelUsername } : {}),
            ...(o.sentinelPassword !== undefined ? { password: o.sentinelPassword } : {}),
            ...(o.sentinelTls !== undefined ? { tls: o.sentinelTls } : {}),
            connectTimeout: o.connectTimeoutMs,
            // A sentinel that is down is retried every 2 s; the others keep watching meanwhile.
            retryStrategy: () => 2_000,
            maxRetriesPerRequest: null,
            enableReadyCheck: false,
            lazyConnect: true,
            connectionName: 'tiercache:failover-detector',
          }),
        ),
      )
      // Errors of one sentinel are expected (it may be down); the owner decides what matters.
      const address = `${sentinel.host}:${sentinel.port}`
      client.on('error', (error: unknown) => this.#hooks.onSentinelStatus?.(address, error))
      client.on('ready', () => this.#hooks.onSentinelStatus?.(address, undefined))
      client.on('message', (channel: string, message: string) => this.#onSentinelMessage(channel, message))
      client.connect().then(
        () => client.subscribe(...CHANNELS),
        () => undefined,
      )
      this.#subscribers.push(client)
    }
  }

  /** Call when a data connection to the master became ready on `address` (`host:port`). */
  observeMaster(address: string): void {
    if (this.#closed) return
    const previous = this.#master
    if (previous === address) return
    this.#master = address
    if (previous !== undefined)
      this.#hooks.onFailover({ from: previous, to: address, via: 'reconnect', at: Date.now() })
  }

  #onSentinelMessage(channel: string, message: string): void {
    if (this.#closed) return
    const parts = message.split(' ')
    if (channel === '+switch-master') {
      // +switch-master <name> <old-ip> <old-port> <new-ip> <new-port>
      if (parts[0] !== this.#options.name || parts.length < 5) return
      const from = `${parts[1]}:${parts[2]}`
      const to = `${parts[3]}:${parts[4]}`
      if (this.#master === to) return
      this.#master = to
      this.#hooks.onFailover({ from, to, via: 'switch-master', at: Date.now() })
    } else if (channel === '+odown') {
      // +odown master <name> <ip> <port> #quorum …
      if (parts[0] !== 'master' || parts[1] !== this.#options.name) return
      this.#hooks.onMasterDown?.(`${parts[2]}:${parts[3]}`)
    }
  }

  close(): void {
    this.#closed = true
    for (const client of this.#subscribers) client.disconnect()
    this.#subscribers.length = 0
  }
}
