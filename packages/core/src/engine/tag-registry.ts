import type { RemoteStore } from '../store/remote-store.js'

/** Tags whose invalidation count is tracked at once (see `#moves`). */
const MAX_TRACKED_TAGS = 100_000

interface KnownGeneration {
  readonly generation: number
  readonly until: number
}

/**
 * What this process knows of tag generations. A tagged entry records the generation of each of its tags
 * when it was written; it is valid only while every tag still has that generation. Invalidating a tag is
 * one INCR (O(1), no key scan, no cross-slot transaction on Cluster). Equality rather than ordering makes
 * entries written after a generation went backwards (an INCR lost in an async-replication failover) invalid
 * too; entries stamped before the lost INCR can become valid again — that is the replication window
 * docs/consistency.md describes, closed by `consistency: 'replicated'` where the store offers it.
 *
 * Known generations are kept for `ttlMs` and updated by the bus; a tag with a pending (queued) invalidation
 * is unknown until its replay lands, so nothing tagged with it is served meanwhile.
 */
export class TagRegistry {
  readonly #known = new Map<string, KnownGeneration>()
  readonly #pending = new Map<string, number>()
  /**
   * Per tag, how many invalidations began or ended: a generation fetched while it moved may predate the
   * invalidation (asked before a replayed INCR, answered after it landed), so it is not kept.
   */
  readonly #moves = new Map<string, number>()
  readonly #store: RemoteStore
  readonly #keyPrefix: string
  readonly #ttlMs: number

  constructor(store: RemoteStore, keyPrefix: string, ttlMs: number) {
    this.#store = store
    this.#keyPrefix = keyPrefix
    this.#ttlMs = ttlMs
  }

  /** The remote key of a tag's generation counter. */
  keyOf(tag: string): string {
    return this.#keyPrefix + tag
  }

  /** The tag a generation key belongs to, or undefined for keys of another cache. */
  tagOf(key: string): string | undefined {
    return key.startsWith(this.#keyPrefix) ? key.slice(this.#keyPrefix.length) : undefined
  }

  /** Current generation of a tag if known and fresh, else undefined. */
  #current(tag: string, now: number, ignoreExpiry = false): number | undefined {
    if (this.#pending.size > 0 && this.#pending.has(tag)) return undefined
    const known = this.#known.get(tag)
    return known !== undefined && (ignoreExpiry || known.until > now) ? known.generation : undefined
  }

  /**
   * Synchronous check: true/false when every tag's generation is known, undefined when the store must be
   * asked first. `ignoreExpiry` accepts generations past their ttl: what fail-safe uses while the store is
   * down (the bus is down too then, and reconnecting resyncs everything).
   */
  check(
    tags: readonly string[],
    generations: readonly number[] | undefined,
    now = Date.now(),
    ignoreExpiry = false,
  ): boolean | undefined {
    for (let i = 0; i < tags.length; i++) {
      const current = this.#current(tags[i]!, now, ignoreExpiry)
      if (current === undefined) return this.#pending.has(tags[i]!) ? false : undefined
      if (current !== generations?.[i]) return false
    }
    return true
  }

  /** Generations of these tags, asking the store for those not known. Rejects when the store fails. */
  async resolve(tags: readonly string[]): Promise<number[]> {
    const now = Date.now()
    const result = new Array<number>(tags.length)
    const missing: number[] = []
    for (let i = 0; i < tags.length; i++) {
      const current = this.#current(tags[i]!, now)
      if (current === undefined) missing.push(i)
      else result[i] = current
    }
    if (missing.length === 0) return result
    const moves = missing.map((i) => this.#moves.get(tags[i]!) ?? 0)
    const fetched = await this.#store.getGenerations(missing.map((i) => this.keyOf(tags[i]!)))
    const answered = Date.now()
    const until = answered + this.#ttlMs
    for (let j = 0; j < missing.length; j++) {
      const tag = tags[missing[j]!]!
      const generation = fetched[j] ?? 0
      // A newer generation learned meanwhile (bus, own bump) beats our answer, which may predate it.
      const known = this.#known.get(tag)
      if (known !== undefined && known.until > answered && known.generation > generation) {
        result[missing[j]!] = known.generation
        continue
      }
      result[missing[j]!] = generation
      // An invalidation began or ended while we were asking: our answer may predate it, so do not keep it.
      if (!this.#pending.has(tag) && (this.#moves.get(tag) ?? 0) === moves[j])
        this.#known.set(tag, { generation, until })
    }
    return result
  }

  /** Validity of an entry's tags, asking the store if needed; false when that fails (cannot verify). */
  async verify(tags: readonly string[], generations: readonly number[] | undefined): Promise<boolean> {
    const quick = this.check(tags, generations)
    if (quick !== undefined) return quick
    try {
      const current = await this.resolve(tags)
      return (
        current.every((generation, i) => generation === generations?.[i]) &&
        this.check(tags, generations) !== false
      )
    } catch {
      return false
    }
  }

  /** A generation learned from our own bump or the bus. Generations only grow, except after data loss. */
  learn(tag: string, generation: number): void {
    if (generation < 0) {
      this.#known.delete(tag)
      return
    }
    const known = this.#known.get(tag)
    if (known === undefined || known.generation < generation) {
      this.#known.set(tag, { generation, until: Date.now() + this.#ttlMs })
    }
  }

  beginInvalidation(tag: string): void {
    this.#pending.set(tag, (this.#pending.get(tag) ?? 0) + 1)
    this.#moved(tag)
    this.#known.delete(tag)
  }

  /** `learn` the applied generation first when known; otherwise the tag is unknown until asked again. */
  endInvalidation(tag: string): void {
    const count = (this.#pending.get(tag) ?? 1) - 1
    if (count <= 0) this.#pending.delete(tag)
    else this.#pending.set(tag, count)
    this.#moved(tag)
  }

  #moved(tag: string): void {
    const moves = (this.#moves.get(tag) ?? 0) + 1
    // Bounded: a full map restarts every tag's count, which only makes in-flight answers unkept (safe).
    if (moves === 1 && this.#moves.size >= MAX_TRACKED_TAGS) this.#moves.clear()
    this.#moves.set(tag, moves)
  }

  forget(tag: string): void {
    this.#known.delete(tag)
  }

  /** Bus resync: everything known may be outdated. Pending invalidations stay pending. */
  clear(): void {
    this.#known.clear()
  }
}
