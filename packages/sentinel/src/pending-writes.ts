/** A write that was accepted but has not reached the master yet. */
export interface PendingWrite {
  readonly key: string
  readonly value: Uint8Array
  /** Physical expiry (epoch ms) of the bytes, like the PX the server would apply. */
  readonly expiresAt: number
}

/**
 * Writes that are still being retried in the background while the master moves (a `set` returns to its
 * caller after a short wait; its retry goes on until the new master takes it).
 *
 * Two rules keep this correct:
 * - **Read your writes.** While a write is pending, reads of its key answer from here; otherwise a read
 *   from the (old or new) master would return the value the write is about to replace.
 * - **Newest wins.** A later `set`, `delete` or `clearPrefix` of the key supersedes a pending write: its
 *   retry stops before sending anything, so an old value can never land after a newer invalidation. (A
 *   command already sent is ordered before the later one on the same connection.)
 */
export class PendingWrites {
  readonly #byKey = new Map<string, PendingWrite>()

  get size(): number {
    return this.#byKey.size
  }

  /** Registers `write` as the newest write of its key (superseding any older pending one). */
  begin(write: PendingWrite): PendingWrite {
    this.#byKey.set(write.key, write)
    return write
  }

  /** True while `write` is still the newest write of its key (not superseded, not settled). */
  isCurrent(write: PendingWrite): boolean {
    return this.#byKey.get(write.key) === write
  }

  /** Done (landed or given up): reads go back to the server. No-op when superseded. */
  end(write: PendingWrite): void {
    if (this.#byKey.get(write.key) === write) this.#byKey.delete(write.key)
  }

  /** The bytes a read must see for `key`: a pending write's, if one is pending and not expired. */
  read(key: string): Uint8Array | undefined {
    if (this.#byKey.size === 0) return undefined
    const write = this.#byKey.get(key)
    if (write === undefined) return undefined
    if (write.expiresAt <= Date.now()) {
      this.#byKey.delete(key)
      return undefined
    }
    return write.value
  }

  /** An invalidation of these keys supersedes their pending writes. */
  supersede(keys: readonly string[]): void {
    if (this.#byKey.size === 0) return
    for (const key of keys) this.#byKey.delete(key)
  }

  /** A clear of `prefix` supersedes every pending write under it (except under `keepPrefix`). */
  supersedePrefix(prefix: string, keepPrefix?: string): void {
    if (this.#byKey.size === 0) return
    for (const key of this.#byKey.keys()) {
      if (key.startsWith(prefix) && (keepPrefix === undefined || !key.startsWith(keepPrefix)))
        this.#byKey.delete(key)
    }
  }

  clear(): void {
    this.#byKey.clear()
  }
}
