const SLOTS = 1024
/** Recent clears kept for `clearedSince`; a load older than the oldest is treated as overlapping one. */
const RECENT_CLEARS = 64

/**
 * Counters that move whenever something could make an in-flight read or load outdated, so that it does not
 * put its result in L1: a delete of a key (its hash slot), a bus resync or a replayed invalidation (the
 * global counter), a clear of a prefix (`clears`, checked per key by `clearedSince`). A read or load takes a
 * snapshot before it starts and does not keep its result when the snapshot moved — the value may predate
 * the invalidation, and keeping it would resurrect what was just removed. Tag invalidations need no counter:
 * a tagged entry records its tags' generations from before its load, and every read compares them.
 * Fixed size: 1024 slots and 64 recent clears, no growth.
 */
export class InvalidationEpochs {
  readonly #slots = new Uint32Array(SLOTS)
  #global = 0
  #clears = 0
  readonly #recent: Array<{ readonly prefix: string; readonly seq: number }> = []

  of(key: string): number {
    return this.#global + (this.#slots[slotOf(key)] as number)
  }

  bump(key: string): void {
    this.#slots[slotOf(key)]++
  }

  bumpAll(): void {
    this.#global++
  }

  /** The clear counter, to snapshot before a read or load. */
  get clears(): number {
    return this.#clears
  }

  /** A clear of every key starting with `prefix`. */
  clear(prefix: string): void {
    this.#recent.push({ prefix, seq: ++this.#clears })
    if (this.#recent.length > RECENT_CLEARS) this.#recent.shift()
  }

  /** Whether a clear covering `key` happened since the snapshot `since` (of `clears`). */
  clearedSince(key: string, since: number): boolean {
    if (since === this.#clears) return false
    const recent = this.#recent
    // Clears newer than the snapshot were forgotten: assume one covered the key.
    if (recent.length === 0 || recent[0]!.seq > since + 1) return true
    for (let i = recent.length - 1; i >= 0 && recent[i]!.seq > since; i--)
      if (key.startsWith(recent[i]!.prefix)) return true
    return false
  }
}

/** FNV-1a over UTF-16 units, folded to the slot count. */
function slotOf(key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) & (SLOTS - 1)
}
