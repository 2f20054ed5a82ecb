/** A loader held open between its read and its return: see {@link heldLoader}. */
export interface HeldLoader<T> {
  /** Pass to any cache's getOrSet: reads `read()`, resolves `entered`, then waits for `release()`. */
  readonly loader: () => Promise<T>
  /** Resolves once the loader has read its value. */
  readonly entered: Promise<void>
  /** Lets the loader return what it read. */
  readonly release: () => void
}

/**
 * A loader that stops between reading the "database" and returning, so a test (or a benchmark, with any
 * caching library) can put an invalidation exactly there: the stale-set race.
 */
export function heldLoader<T>(read: () => T): HeldLoader<T> {
  let entered!: () => void
  let release!: () => void
  const enteredP = new Promise<void>((resolve) => {
    entered = resolve
  })
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  return {
    loader: async () => {
      const value = read()
      entered()
      await released
      return value
    },
    entered: enteredP,
    release,
  }
}
