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
  readonly #listeners = new Set<(state: CircuitStateName) => void>()
  #state: CircuitStateName = 'closed'

  constructor(options: CircuitBreakerOptions = {}) {
    this.#policy = circuitBreaker(handleWhen(options.isFailure ?? isRetryableRedisError), {
      halfOpenAfter: options.halfOpenAfterMs ?? BREAKER_DEFAULTS.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.failureThreshold ?? BREAKER_DEFAULTS.failureThreshold),
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
    return this.#state
  }

  /** Runs `fn` through the breaker; rejects with CIRCUIT_OPEN without calling it while open/probing. */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#policy.state === CircuitState.HalfOpen) return Promise.reject(circuitOpen())
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
