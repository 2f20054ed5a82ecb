import { RESERVED_PREFIX } from '../keys.js'
import { hashPart, keySlot, SLOT_COUNT, slotTag } from './key-slot.js'

/**
 * Where the fence generations of "no stale sets" live. Two kinds, both under the root namespace's reserved
 * prefix (so an ACL user limited to `~N:*` covers them):
 *
 * - the **key fence** of value key `K`: `<root>__tc:k:{H}<rest>`, bumped by `delete(K)`. `H` is the part of
 *   `K` that Redis Cluster hashes (its hash tag, or all of `K`), so the fence shares `K`'s slot and one script
 *   can check it and write `K`; `<rest>` is `K` without the root prefix, so every key has its own fence.
 *   (A key with no hash tag but a `}` in it cannot be wrapped in braces: `H` is then a short tag chosen to
 *   hash to `K`'s slot.)
 * - the **clear fences** of a namespace prefix `P` (`clear()` on it): on a single-node store one key,
 *   `<root>__tc:c:<P without root>`; on Cluster one per slot, `<root>__tc:c:{<slot tag>}<P without root>`, so
 *   that every value key has its namespace's clear fence in its own slot. A `clear()` on Cluster therefore
 *   bumps 16,384 keys (rare, and pipelined per node).
 *
 * A key is guarded by its key fence and by the clear fence of every `:`-terminated prefix of it from the
 * root on — every prefix some `namespace(…).clear()` could remove it by.
 */
export class FenceLayout {
  readonly #root: string
  readonly #keyPrefix: string
  readonly #clearPrefix: string
  /** Per-slot clear fences: the store is slotted and the root namespace does not pin one slot. */
  readonly #perSlot: boolean

  constructor(rootPrefix: string, slotted: boolean) {
    this.#root = rootPrefix
    this.#keyPrefix = `${rootPrefix}${RESERVED_PREFIX}k:`
    this.#clearPrefix = `${rootPrefix}${RESERVED_PREFIX}c:`
    // A root namespace with its own hash tag ('{tenant}') keeps every key, fences included, in one slot.
    this.#perSlot = slotted && hashPart(rootPrefix) === rootPrefix
  }

  /** The key fence of `fullKey`. */
  keyFence(fullKey: string): string {
    const rest = fullKey.slice(this.#root.length)
    let tag = hashPart(fullKey)
    if (tag.includes('}')) tag = slotTag(keySlot(fullKey))
    return `${this.#keyPrefix}{${tag}}${rest}`
  }

  /** Every fence guarding a loader's write of `fullKey`: its key fence, then its namespaces' clear fences. */
  fencesOf(fullKey: string): string[] {
    const fences = [this.keyFence(fullKey)]
    const slot = this.#perSlot ? `{${slotTag(keySlot(fullKey))}}` : ''
    const base = this.#clearPrefix + slot
    fences.push(base)
    const root = this.#root.length
    for (let i = fullKey.indexOf(':', root); i >= 0; i = fullKey.indexOf(':', i + 1))
      fences.push(base + fullKey.slice(root, i + 1))
    return fences
  }

  /** The fences a `clear()` of `prefix` (a namespace prefix at or below the root) bumps. */
  clearFences(prefix: string): string[] {
    const rest = prefix.slice(this.#root.length)
    if (!this.#perSlot) return [this.#clearPrefix + rest]
    const fences = new Array<string>(SLOT_COUNT)
    for (let s = 0; s < SLOT_COUNT; s++) fences[s] = `${this.#clearPrefix}{${slotTag(s)}}${rest}`
    return fences
  }
}
