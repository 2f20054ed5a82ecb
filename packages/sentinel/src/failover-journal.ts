import type { QueuedInvalidation } from '@tiercache/redis'

/** The newest acknowledged write of a key (or clear of a prefix): which node took it, and when. */
interface Mark {
  /** The repair that undoes a possibly lost write: delete the key, bump it again, or clear the prefix again. */
  readonly op: QueuedInvalidation
  /** The master that acknowledged it (see `SentinelStore`'s node identity). */
  readonly node: string
  readonly at: number
  /** Global order of acknowledgements: the newest mark affecting a key decides. */
  readonly seq: number
}

/**
 * What this process wrote recently, and which master acknowledged it, so that a failover cannot silently
 * undo it.
 *
 * Redis replicates asynchronously, and Sentinel promotes a replica while the old master may still be
 * acknowledging writes (a manual `SENTINEL FAILOVER` keeps the old master up as master until it is
 * reconfigured; a killed master takes its unreplicated tail with it). Those acknowledged writes are lost
 * on the promoted replica: a `set` falls back to the value it replaced, a `delete` or tag bump is undone.
 *
 * The rule is about nodes, not about when a failover was noticed: **a key whose newest write was
 * acknowledged by another master than the one a read talks to is a miss** (`isSuspect`), until the write
 * has been undone on that master too — by the repair (`repairs`: keys deleted again, tag generations bumped
 * again, prefixes cleared again) or by a newer write acknowledged there. When the store's connection lands
 * on another master (`moveTo`), the marks of the last `windowMs` become repairs; older ones are taken as
 * replicated before the failover and dropped. Repairs are never dropped by age.
 */
export class FailoverJournal {
  readonly #windowMs: number
  readonly #maxEntries: number
  /** Keys whose newest mark is on the current node; insertion-ordered by last touch (oldest first). */
  readonly #trusted = new Map<string, Mark>()
  /** Keys whose newest mark is on another node: to repair on the current one, misses until then. */
  readonly #repairs = new Map<string, Mark>()
  /** Cleared prefixes (rare: `cache.clear()`), by `prefix\0keepPrefix`. */
  readonly #prefixes = new Map<string, Mark>()
  #current: string | undefined
  #seq = 0
  #overflowed = false

  constructor(windowMs: number, maxEntries = 100_000) {
    this.#windowMs = windowMs
    this.#maxEntries = maxEntries
  }

  /** The node the journal considers current (the last one `moveTo` was called with). */
  get current(): string | undefined {
    return this.#current
  }

  /** Keys and prefixes not yet repaired on the current node. */
  get suspects(): number {
    let count = this.#repairs.size
    for (const mark of this.#prefixes.values()) if (mark.node !== this.#current) count++
    return count
  }

  /** What a move to another node would re-invalidate now: marks of the window, and repairs still owed. */
  exposed(): number {
    const horizon = Date.now() - this.#windowMs
    let count = this.#repairs.size
    for (const mark of this.#trusted.values()) if (mark.at >= horizon) count++
    for (const mark of this.#prefixes.values()) if (mark.at >= horizon || mark.node !== this.#current) count++
    return count
  }

  /** Remembers a write acknowledged by `node` (a set is remembered as the delete that undoes it). */
  record(op: QueuedInvalidation, node: string): void {
    if (this.#windowMs <= 0) return
    const at = Date.now()
    if (op.kind === 'clearPrefix') {
      const id = `${op.prefix}\0${op.keepPrefix ?? ''}`
      this.#prefixes.delete(id)
      this.#prefixes.set(id, { op, node, at, seq: ++this.#seq })
    } else {
      for (const key of op.keys) {
        const mark: Mark = { op: { kind: op.kind, keys: [key] }, node, at, seq: ++this.#seq }
        this.#trusted.delete(key)
        this.#repairs.delete(key)
        if (node === this.#current) this.#trusted.set(key, mark)
        else this.#repairs.set(key, mark)
      }
    }
    this.#prune(at)
  }

  /**
   * True when a read of `key` answered by `node` may return what a failover rolled back: the newest write
   * of the key (or clear of a prefix it falls under) was acknowledged by another node. `node` undefined
   * (not connected, identity unknown): true for every key written within the window.
   */
  isSuspect(key: string, node: string | undefined): boolean {
    if (this.#prefixes.size === 0) {
      if (this.#repairs.size === 0 && node !== undefined && node === this.#current) return false
      const mark = this.#trusted.get(key) ?? this.#repairs.get(key)
      return mark !== undefined && mark.node !== node
    }
    let newest = this.#trusted.get(key) ?? this.#repairs.get(key)
    for (const mark of this.#prefixes.values()) {
      if (mark.op.kind !== 'clearPrefix' || !key.startsWith(mark.op.prefix)) continue
      if (mark.op.keepPrefix !== undefined && key.startsWith(mark.op.keepPrefix)) continue
      if (newest === undefined || mark.seq > newest.seq) newest = mark
    }
    return newest !== undefined && newest.node !== node
  }

  /**
   * The store's connection is on `node` now. On a change, marks of the window acknowledged elsewhere become
   * repairs (marks already on `node` become trusted again), older ones are dropped. Returns true when there
   * is something to repair; `overflowed` then says whether marks younger than the window were dropped for
   * room since the last move (the caller should over-invalidate).
   */
  moveTo(node: string): { changed: boolean; repairs: number; overflowed: boolean } {
    if (node === this.#current) return { changed: false, repairs: 0, overflowed: false }
    const horizon = Date.now() - this.#windowMs
    const marks = [...this.#trusted.values(), ...this.#repairs.values()].sort((a, b) => a.seq - b.seq)
    this.#trusted.clear()
    this.#repairs.clear()
    for (const mark of marks) {
      if (mark.op.kind === 'clearPrefix') continue
      const key = mark.op.keys[0]!
      if (mark.node === node) this.#trusted.set(key, mark)
      // Marks left over from an earlier move (not on the old current node) are still owed, whatever their age.
      else if (mark.at >= horizon || mark.node !== this.#current) this.#repairs.set(key, mark)
    }
    for (const [id, mark] of this.#prefixes)
      if (mark.node !== node && mark.at < horizon && mark.node === this.#current) this.#prefixes.delete(id)
    this.#current = node
    const overflowed = this.#overflowed
    this.#overflowed = false
    return { changed: true, repairs: this.suspects, overflowed }
  }

  /** The invalidations that repair the current node, grouped into as few operations as possible. */
  repairs(): QueuedInvalidation[] {
    const deletes: string[] = []
    const bumps: string[] = []
    const ops: QueuedInvalidation[] = []
    for (const [key, mark] of this.#repairs) (mark.op.kind === 'bumpGenerations' ? bumps : deletes).push(key)
    for (const mark of this.#prefixes.values()) if (mark.node !== this.#current) ops.push(mark.op)
    if (bumps.length > 0) ops.unshift({ kind: 'bumpGenerations', keys: bumps })
    if (deletes.length > 0) ops.unshift({ kind: 'delete', keys: deletes })
    return ops
  }

  /** Trusted marks past the window are dropped (oldest first), and the oldest beyond `maxEntries`. */
  #prune(now: number): void {
    const horizon = now - this.#windowMs
    for (const [key, mark] of this.#trusted) {
      if (mark.at >= horizon && this.#trusted.size <= this.#maxEntries) break
      if (mark.at >= horizon) this.#overflowed = true
      this.#trusted.delete(key)
    }
    for (const [id, mark] of this.#prefixes)
      if (mark.at < horizon && mark.node === this.#current) this.#prefixes.delete(id)
  }
}
