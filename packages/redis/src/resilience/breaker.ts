import { TierCacheError } from '@tiercache/core'
import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  IsolatedCircuitError,
} from 'cockatiel'
import { isRetryableRedisError } from './classify.js'

export type CircuitStateName = 'closed' | 'open' | 'half-open'

/** Tuning of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number
  /** Cool-down before one probe call is let through (half-open). Default 1000 ms. */
  readonly halfOpenAfterMs?: number
  /** Which errors count as failures. Default: retryable Redis errors (availability), not WRONGTYPE & co. */
  readonly isFailure?: (error: unknown) => boolean
}

export const BREAKER_DEFAULTS = Object.freeze({ failureThreshold: 5, halfOpenAfterMs: 1000 })

const STATE_NAMES: Record<CircuitState, CircuitStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
}

/**
 * A circuit breaker over cockatiel's `CircuitBreakerPolicy` + `ConsecutiveBreaker`: opens after
 * `failureThreshold` consecutive failures, lets ONE probe through after `halfOpenAfterMs`, closes when the
 * probe succeeds (re-opens when it fails). While open — and, unlike plain cockatiel, also while the probe
 * is in flight — calls reject at once with `TierCacheError` CIRCUIT_OPEN, so a dead tier costs
 * microseconds, not a timeout (cockatiel would park every call behind the probe).
 */
export class CircuitBreaker {
  readonly #policy: CircuitBreakerPolicy
  readonly #consecutive: ConsecutiveBreaker
  readonly #isFailure: (error: unknown) => boolean
  readonly #threshold: number
  readonly #listeners = new Set<(state: CircuitStateName) => void>()
  #state: CircuitStateName = 'closed'
  /**
   * From the fast-path failure that reaches the threshold until cockatiel has opened: its `execute` is
   * async, and calls made in between must already see the circuit open.
   */
  #opening = false

  constructor(options: CircuitBreakerOptions = {}) {
    this.#isFailure = options.isFailure ?? isRetryableRedisError
    this.#threshold = options.failureThreshold ?? BREAKER_DEFAULTS.failureThreshold
    this.#consecutive = new ConsecutiveBreaker(this.#threshold)
    this.#policy = circuitBreaker(handleWhen(this.#isFailure), {
      halfOpenAfter: options.halfOpenAfterMs ?? BREAKER_DEFAULTS.halfOpenAfterMs,
      breaker: this.#consecutive,
    })
    this.#policy.onStateChange((state) => {
      const name = STATE_NAMES[state]
      if (name === this.#state) return
      this.#state = name
      for (const listener of this.#listeners) listener(name)
    })
  }

  /** 'closed' (normal), 'open' (failing fast) or 'half-open' (one probe in flight). */
  get state(): CircuitStateName {
    return this.#opening ? 'open' : this.#state
  }

  /**
   * True while calls may skip {@link execute} and report their outcome through {@link onSuccess} /
   * {@link onFailure} (the hot path: no promise layers, no result objects). Open, half-open: use `execute`.
   */
  get closed(): boolean {
    return !this.#opening && this.#policy.state === CircuitState.Closed
  }

  /** Records a call that succeeded outside `execute` while {@link closed}: resets the failure count. */
  onSuccess(): void {
    this.#consecutive.success()
  }

  /**
   * Records a call that failed outside `execute` while {@link closed}. Errors that are not failures
   * (WRONGTYPE & co) are ignored, as in `execute`. The failure that reaches the threshold goes through
   * cockatiel's `execute`, so the policy itself opens (and later lets its one probe through); from that
   * call on the circuit counts as open.
   */
  onFailure(error: unknown): void {
    if (!this.#isFailure(error)) return
    if (!this.closed) return
    if (this.#consecutive.state + 1 < this.#threshold) {
      this.#consecutive.failure()
      return
    }
    this.#opening = true
    this.#policy
      .execute(() => Promise.reject(error))
      .catch(() => undefined)
      .finally(() => {
        this.#opening = false
      })
  }

  /** Runs `fn` through the breaker; rejects with CIRCUIT_OPEN without calling it while open/probing. */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#opening || this.#policy.state === CircuitState.HalfOpen) return Promise.reject(circuitOpen())
    return this.#policy.execute(fn).catch((error: unknown) => {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)
        throw circuitOpen(error)
      throw error
    })
  }

  /** Listens to state changes; returns an unsubscribe. */
  onStateChange(listener: (state: CircuitStateName) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

function circuitOpen(cause?: unknown): TierCacheError {
  return new TierCacheError(
    'CIRCUIT_OPEN',
    'the remote tier is failing; the circuit breaker is open and calls skip it until a probe succeeds',
    cause === undefined ? undefined : { cause },
  )
}
