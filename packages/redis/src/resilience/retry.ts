import { isRetryableRedisError } from './classify.js'

/** Tuning of {@link retryWithDeadline}. All durations in milliseconds. */
export interface RetryOptions {
  /** Overall budget: no attempt starts and no backoff sleeps past `start + deadlineMs`. */
  readonly deadlineMs: number
  /** Backoff cap of the first retry; doubles per attempt (exponential), each delay is full-jittered. Default 20. */
  readonly baseDelayMs?: number
  /** Upper bound of one backoff delay. Default 500. */
  readonly maxDelayMs?: number
  /** Attempts in all (first call included). Default unlimited: the deadline bounds it. */
  readonly maxAttempts?: number
  /** Which errors are worth another attempt. Default: `classifyRedisError(e) === 'retryable'`. */
  readonly shouldRetry?: (error: unknown) => boolean
  /** Called before each retry (attempt = the number of the attempt about to run, 2 for the first retry). */
  readonly onRetry?: (event: { attempt: number; delayMs: number; error: unknown }) => void
  /** Stops waiting (the current attempt's error is thrown) once aborted, e.g. on close. */
  readonly signal?: AbortSignal
  /** Random source in [0, 1); injectable for tests. Default Math.random. */
  readonly random?: () => number
}

export const RETRY_DEFAULTS = Object.freeze({ baseDelayMs: 20, maxDelayMs: 500 })

/**
 * "Full jitter" backoff (AWS architecture blog): a uniformly random delay in [0, min(max, base · 2^n)),
 * which spreads the retries of many clients after a shared failure (a failover) instead of synchronising them.
 */
export function fullJitterDelay(
  retry: number,
  baseDelayMs: number = RETRY_DEFAULTS.baseDelayMs,
  maxDelayMs: number = RETRY_DEFAULTS.maxDelayMs,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retry, 30))
  return Math.floor(random() * cap)
}

/**
 * Runs `attempt` until it succeeds, throws an error `shouldRetry` rejects, or the deadline budget is spent;
 * then throws the LAST real error (never a generic "cancelled"). `attempt` receives the time left so it can
 * bound itself (e.g. a command timeout).
 *
 * Why a small loop of our own instead of cockatiel's `retry()`: cockatiel picks the next delay without
 * knowing the remaining budget, so with a deadline it sleeps past it and then fails with its own
 * `TaskCancelledError` instead of the Redis error; it also cannot hand the remaining budget to the attempt.
 * A deadline-first loop is ~30 lines; cockatiel still provides the circuit breaker (`breaker.ts`).
 */
export async function retryWithDeadline<T>(
  attempt: (context: { attempt: number; remainingMs: number }) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const deadline = Date.now() + options.deadlineMs
  const shouldRetry = options.shouldRetry ?? isRetryableRedisError
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY
  for (let n = 1; ; n++) {
    try {
      return await attempt({ attempt: n, remainingMs: Math.max(0, deadline - Date.now()) })
    } catch (error) {
      if (n >= maxAttempts || options.signal?.aborted || !shouldRetry(error)) throw error
      const delayMs = fullJitterDelay(n - 1, options.baseDelayMs, options.maxDelayMs, options.random)
      // A retry that could only start at (or after) the deadline is not worth the wait.
      if (Date.now() + delayMs >= deadline) throw error
      options.onRetry?.({ attempt: n + 1, delayMs, error })
      if (!(await sleep(delayMs, options.signal))) throw error
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false)
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
