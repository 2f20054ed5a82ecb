import type { BusMessage } from '@tiercache/core'

/** Most keys tracked before the guard gives up on tracking and sends every read to the master for a window. */
const MAX_TRACKED = 50_000

/**
 * Read-your-invalidations for `role: 'replica'`. Replication is asynchronous: right after a write, delete
 * or clear on the master, a replica may still hold the old bytes, and a read from it would bring back
 * a value that was just invalidated. Keys (and prefixes) written or invalidated recently — by this process,
 * or by another one whose bus message arrived — are therefore read from the master for `windowMs`.
 * Tag generations are always read from the master (the base store's reads use the master connection).
 */
export class ReplicaReadGuard {
  readonly #windowMs: number
  readonly #keys = new Map<string, number>()
  readonly #prefixes = new Map<string, number>()
  /** Until this time every read goes to the master (set when tracking overflowed). */
  #allUntil = 0

  constructor(windowMs: number) {
    this.#windowMs = windowMs
  }

  touch(keys: Iterable<string>): void {
    const until = Date.now() + this.#windowMs
    for (const key of keys) {
      // Re-inserting keeps the map in expiry order, so expired entries are always at its front.
      this.#keys.delete(key)
      this.#keys.set(key, until)
    }
    if (this.#keys.size > MAX_TRACKED) {
      this.#keys.clear()
      this.#allUntil = until
    }
  }

  touchPrefix(prefix: string): void {
    this.#prefixes.set(prefix, Date.now() + this.#windowMs)
  }

  /** What another instance invalidated or wrote (its bus message). */
  observe(message: BusMessage): void {
    if (message.keys) this.touch(message.keys)
    if (message.prefixes) for (const prefix of message.prefixes) this.touchPrefix(prefix)
  }

  /** True when `key` may be newer on the master than on a replica. */
  needsMaster(key: string, now = Date.now()): boolean {
    if (now < this.#allUntil) return true
    this.#expire(now)
    if (this.#keys.has(key)) return true
    for (const prefix of this.#prefixes.keys()) if (key.startsWith(prefix)) return true
    return false
  }

  #expire(now: number): void {
    for (const [key, until] of this.#keys) {
      if (until > now) break
      this.#keys.delete(key)
    }
    for (const [prefix, until] of this.#prefixes) if (until <= now) this.#prefixes.delete(prefix)
  }
}
