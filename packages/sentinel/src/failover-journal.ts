import type { QueuedInvalidation } from '@tiercache/redis'

type Entry = { readonly op: QueuedInvalidation; at: number }

/**
 * What this process wrote recently, so that a failover cannot silently undo it.
 *
 * Redis replicates asynchronously, and Sentinel promotes a replica while the old master may still be
 * acknowledging writes (a manual `SENTINEL FAILOVER` keeps the old master up as master until it is
 * reconfigured; a killed master takes its unreplicated tail with it). Those acknowledged writes are lost
 * on the promoted replica: a `set` falls back to the value it replaced, a `delete` or tag bump is undone.
 *
 * After a failover the store therefore re-invalidates everything it wrote within `windowMs` before it
 * noticed the switch: keys it set or deleted are deleted again, tag generations bumped again, prefixes
 * cleared again — turning a possibly lost write into a miss, never into old data. Until that lands, the
 * keys read as misses (`isSuspect`).
 */
export class FailoverJournal {
  readonly #windowMs: number
  readonly #maxEntries: number
  /** Insertion-ordered by last touch: the oldest entries come first. */
  readonly #entries = new Map<string, Entry>()
  readonly #suspect = new Map<string, number>()
  #overflowed = false

  constructor(windowMs: number, maxEntries = 100_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  get size(): number {
    return this.#entries.size
  }

  /** Remembers a write (a set is remembered as the delete that would undo a lost one). */
  record(op: QueuedInvalidation): void {
    if (this.#windowMs <= 0) return
    const now = Date.now()
    if (op.kind === 'clearPrefix') this.#touch(`p\0${op.prefix}\0${op.keepPrefix ?? ''}`, op, now)
    else for (const key of op.keys) this.#touch(`${op.kind[0]}\0${key}`, { kind: op.kind, keys: [key] }, now)
    this.#prune(now)
  }

  #touch(id: string, op: QueuedInvalidation, now: number): void {
    this.#entries.delete(id)
    this.#entries.set(id, { op, at: now })
  }

  #prune(now: number): void {
    const horizon = now - this.#windowMs
    for (const [id, entry] of this.#entries) {
      if (entry.at >= horizon && this.#entries.size <= this.#maxEntries) break
      if (entry.at >= horizon) this.#overflowed = true
      this.#entries.delete(id)
    }
  }

  /**
   * The invalidations that undo what may have been lost in a failover noticed now, grouped into as few
   * operations as possible; `overflowed` says the journal dropped entries younger than the window (the
   * caller should over-invalidate, e.g. clear its namespaces).
   */
  takeWindow(): { ops: QueuedInvalidation[]; overflowed: boolean } {
    this.#prune(Date.now())
    const deletes: string[] = []
    const bumps: string[] = []
    const ops: QueuedInvalidation[] = []
    for (const { op } of this.#entries.values()) {
      if (op.kind === 'delete') deletes.push(...op.keys)
      else if (op.kind === 'bumpGenerations') bumps.push(...op.keys)
      else ops.push(op)
    }
    if (bumps.length > 0) ops.unshift({ kind: 'bumpGenerations', keys: bumps })
    if (deletes.length > 0) ops.unshift({ kind: 'delete', keys: deletes })
    const overflowed = this.#overflowed
    this.#overflowed = false
    return { ops, overflowed }
  }

  /** Marks keys whose re-invalidation has not landed yet; reads of them are misses. */
  hold(keys: readonly string[]): void {
    for (const key of keys) this.#suspect.set(key, (this.#suspect.get(key) ?? 0) + 1)
  }

  release(keys: readonly string[]): void {
    for (const key of keys) {
      const count = (this.#suspect.get(key) ?? 1) - 1
      if (count <= 0) this.#suspect.delete(key)
      else this.#suspect.set(key, count)
    }
  }

  isSuspect(key: string): boolean {
    return this.#suspect.size > 0 && this.#suspect.has(key)
  }

  get suspects(): number {
    return this.#suspect.size
  }
}
