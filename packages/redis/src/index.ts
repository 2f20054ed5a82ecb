export type { CircuitBreakerOptions, CircuitStateName } from './resilience/breaker.js'
export { BREAKER_DEFAULTS, CircuitBreaker } from './resilience/breaker.js'
export type { RedisErrorCategory } from './resilience/classify.js'
export {
  CONNECTION_ERROR_CODES,
  classifyRedisError,
  FATAL_REPLY_CODES,
  isFailoverSignal,
  isRetryableRedisError,
  RETRYABLE_REPLY_CODES,
  replyCode,
  toFatalError,
} from './resilience/classify.js'
export type { QueuedInvalidation, ReplayQueueOptions } from './resilience/replay-queue.js'
export { REPLAY_QUEUE_DEFAULTS, ReplayQueue } from './resilience/replay-queue.js'
export type { RetryOptions } from './resilience/retry.js'
export { fullJitterDelay, RETRY_DEFAULTS, retryWithDeadline } from './resilience/retry.js'
