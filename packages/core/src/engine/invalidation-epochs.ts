const SLOTS = 1024

/**
 * Counters that move whenever something could make an in-flight read or load outdated: a delete of a key
 * (its hash slot), or a tag invalidation, clear or bus resync (the global counter). A read or load takes a
 * snapshot before it starts and does not cache its result when the snapshot moved — the value may predate
 * the invalidation, and caching it would resurrect what was just removed. Fixed size: 1024 slots, no growth.
 */
export class InvalidationEpochs {
  readonly #slots = new Uint32Array(SLOTS)
  #global = 0

  of(key: string): number {
    return this.#global + (this.#slots[slotOf(key)] as number)
  }

  bump(key: string): void {
    this.#slots[slotOf(key)]++
  }

  bumpAll(): void {
    this.#global++
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
