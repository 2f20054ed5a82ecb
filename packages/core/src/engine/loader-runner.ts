/** What came of running a loader under its timeouts. */
export type LoaderOutcome<T> =
  | { readonly kind: 'value'; readonly value: T }
  /** The soft or hard timeout passed first; `pending` is the loader still running. */
  | { readonly kind: 'soft-timeout' | 'hard-timeout'; readonly pending: Promise<T> }

/**
 * Runs a loader, racing it against optional soft and hard timeouts. A loader that throws synchronously is
 * treated like one that rejects. The loader's own error is passed through unchanged. Timers exist only
 * when a timeout is set, and are cleared as soon as the race is decided.
 */
export function runLoader<T>(
  loader: () => T | Promise<T>,
  softMs: number | undefined,
  hardMs: number | undefined,
): Promise<LoaderOutcome<T>> {
  let pending: Promise<T>
  try {
    pending = Promise.resolve(loader())
  } catch (error) {
    pending = Promise.reject(error)
  }
  if (softMs === undefined && hardMs === undefined) return pending.then(toValue)
  return new Promise<LoaderOutcome<T>>((resolve, reject) => {
    let softTimer: NodeJS.Timeout | undefined
    let hardTimer: NodeJS.Timeout | undefined
    const settle = () => {
      if (softTimer) clearTimeout(softTimer)
      if (hardTimer) clearTimeout(hardTimer)
    }
    pending.then(
      (value) => {
        settle()
        resolve({ kind: 'value', value })
      },
      (error: unknown) => {
        settle()
        reject(error)
      },
    )
    if (softMs !== undefined) {
      softTimer = setTimeout(() => {
        settle()
        resolve({ kind: 'soft-timeout', pending })
      }, softMs)
    }
    if (hardMs !== undefined) {
      hardTimer = setTimeout(() => {
        settle()
        resolve({ kind: 'hard-timeout', pending })
      }, hardMs)
    }
  })
}

function toValue<T>(value: T): LoaderOutcome<T> {
  return { kind: 'value', value }
}
