import type { Fence } from '@tiercache/core'

/**
 * An invalidation that could not be applied and waits for replay. Keys and prefixes are full remote keys;
 * `fence` is what the invalidation bumps for "no stale sets" (see RemoteStore.delete in @tiercache/core).
 */
export type QueuedInvalidation =
  | { readonly kind: 'delete'; readonly keys: readonly string[]; readonly fence?: Fence }
  | { readonly kind: 'bumpGenerations'; readonly keys: readonly string[] }
  | {
      readonly kind: 'clearPrefix'
      readonly prefix: string
      readonly keepPrefix?: string
      readonly fence?: Fence
    }

/** Tuning of {@link ReplayQueue}. */
export interface ReplayQueueOptions {
  /** Most operations held before the queue collapses into namespace clears. Default 10,000. */
  readonly maxSize?: number
  /** Reserved metadata sub-prefix kept by an overflow clear (`<root>__tc:`). Default '__tc:'. */
  readonly reservedPrefix?: string
  /** Called when the queue overflowed and was collapsed; `dropped` = operations folded into the clears. */
  readonly onOverflow?: (dropped: number) => void
}

export const REPLAY_QUEUE_DEFAULTS = Object.freeze({ maxSize: 10_000, reservedPrefix: '__tc:' })

interface Item {
  op: QueuedInvalidation
  readonly id: string
  readonly waiters: Array<(outcome: 'applied' | 'dropped') => void>
}

/**
 * The invalidations a store could not apply within their deadline, replayed in order once the server is back.
 *
 * - `enqueue` returns the `replayed` promise of the `InvalidationResult` ('applied' after replay, 'dropped'
 *   only when the queue is closed first).
 * - Duplicates coalesce: an operation identical to one already waiting shares its slot and promise
 *   (invalidations are idempotent for correctness: a second DEL or INCR adds nothing).
 * - Bounded: when full, the queue never drops an invalidation; it collapses into one `clearPrefix` per
 *   affected namespace root (the first `:`-segment of each key, keeping `<root>__tc:`), i.e. it
 *   over-invalidates, and reports `onOverflow`.
 * - `replay(apply)` runs one pass: applies in order, stops at the first failure (the rest waits for the
 *   next pass). One pass at a time.
 */
export class ReplayQueue {
  readonly #items: Item[] = []
  readonly #byId = new Map<string, Item>()
  readonly #maxSize: number
  readonly #reserved: string
  readonly #onOverflow: ((dropped: number) => void) | undefined
  #replaying: Promise<number> | undefined
  #closed = false

  constructor(options: ReplayQueueOptions = {}) {
    this.#maxSize = Math.max(1, options.maxSize ?? REPLAY_QUEUE_DEFAULTS.maxSize)
    this.#reserved = options.reservedPrefix ?? REPLAY_QUEUE_DEFAULTS.reservedPrefix
    this.#onOverflow = options.onOverflow
  }

  /** Operations waiting. */
  get size(): number {
    return this.#items.length
  }

  /** Queues `op`; the promise settles when it (or a clear covering it) has been replayed. */
  enqueue(op: QueuedInvalidation): Promise<'applied' | 'dropped'> {
    if (this.#closed) return Promise.resolve('dropped')
    const id = identify(op)
    return new Promise((resolve) => {
      const existing = this.#byId.get(id)
      if (existing) {
        existing.waiters.push(resolve)
        return
      }
      if (this.#items.length >= this.#maxSize) this.#collapse()
      const item: Item = { op, id, waiters: [resolve] }
      this.#items.push(item)
      this.#byId.set(id, item)
    })
  }

  /**
   * One replay pass: applies queued operations in order through `apply`; resolves with how many were
   * applied. Stops at the first failure (kept for the next pass). Concurrent calls share one pass.
   */
  replay(apply: (op: QueuedInvalidation) => Promise<void>): Promise<number> {
    this.#replaying ??= this.#pass(apply).finally(() => {
      this.#replaying = undefined
    })
    return this.#replaying
  }

  async #pass(apply: (op: QueuedInvalidation) => Promise<void>): Promise<number> {
    let applied = 0
    while (this.#items.length > 0 && !this.#closed) {
      const item = this.#items[0]!
      try {
        await apply(item.op)
      } catch {
        break
      }
      // A collapse during `apply` may have replaced the head; only remove the item we applied.
      const at = this.#items.indexOf(item)
      if (at >= 0) {
        this.#items.splice(at, 1)
        this.#byId.delete(item.id)
        for (const resolve of item.waiters) resolve('applied')
        applied++
      }
    }
    return applied
  }

  /** Settles every waiting promise with 'dropped' and refuses new operations. */
  close(): void {
    this.#closed = true
    for (const item of this.#items.splice(0)) for (const resolve of item.waiters) resolve('dropped')
    this.#byId.clear()
  }

  /** Folds everything into one clearPrefix per namespace root; waiters settle when the last clear applies. */
  #collapse(): void {
    const items = this.#items.splice(0)
    this.#byId.clear()
    const roots = new Set<string>()
    const waiters: Item['waiters'] = []
    // The folded operations' fences are still bumped (before the clears), so loads that started before
    // them stay uncached: over-invalidating must not reopen the stale-set race.
    const fences = new Set<string>()
    let fenceTtlMs = 0
    for (const item of items) {
      waiters.push(...item.waiters)
      if (item.op.kind === 'clearPrefix') roots.add(rootOf(item.op.prefix))
      else for (const key of item.op.keys) roots.add(rootOf(key))
      if (item.op.kind !== 'bumpGenerations' && item.op.fence !== undefined) {
        for (const key of item.op.fence.keys) fences.add(key)
        fenceTtlMs = Math.max(fenceTtlMs, item.op.fence.ttlMs)
      }
    }
    const fence: Fence | undefined = fences.size === 0 ? undefined : { keys: [...fences], ttlMs: fenceTtlMs }
    // The empty root covers everything: no need for the others.
    const list = roots.has('') ? [''] : [...roots]
    list.forEach((root, i) => {
      const op: QueuedInvalidation = {
        kind: 'clearPrefix',
        prefix: root,
        keepPrefix: `${root}${this.#reserved}`,
        ...(fence !== undefined && i === 0 ? { fence } : {}),
      }
      const item: Item = { op, id: identify(op), waiters: i === list.length - 1 ? waiters : [] }
      this.#items.push(item)
      this.#byId.set(item.id, item)
    })
    this.#onOverflow?.(items.length)
  }
}

/** 'billing:users:1' → 'billing:'; a key without ':' (no namespace) → '' (everything). */
function rootOf(key: string): string {
  const colon = key.indexOf(':')
  return colon < 0 ? '' : key.slice(0, colon + 1)
}

function identify(op: QueuedInvalidation): string {
  const fenced = op.kind !== 'bumpGenerations' && op.fence !== undefined
  return op.kind === 'clearPrefix'
    ? JSON.stringify([op.kind, op.prefix, op.keepPrefix ?? null, fenced])
    : JSON.stringify([op.kind, [...op.keys].sort(), fenced])
}
