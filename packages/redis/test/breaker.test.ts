import { isTierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { CircuitBreaker, type CircuitStateName } from '../src/resilience/breaker.js'

const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, fails fast, probes after the cool-down and closes', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 100 })
    const states: CircuitStateName[] = []
    breaker.onStateChange((s) => states.push(s))
    for (let i = 0; i < 3; i++) await breaker.execute(down).catch(() => undefined)
    expect(breaker.state).toBe('open')

    let called = false
    const started = performance.now()
    const error = await breaker
      .execute(async () => {
        called = true
      })
      .catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(5)
    expect(called).toBe(false)
    expect(isTierCacheError(error, 'CIRCUIT_OPEN')).toBe(true)

    await sleep(120)
    // While the probe is in flight, other calls fail fast instead of waiting behind it.
    let release!: () => void
    const probe = breaker.execute(() => new Promise<string>((r) => (release = () => r('ok'))))
    expect(breaker.state).toBe('half-open')
    const during = await breaker.execute(async () => 'x').catch((e: unknown) => e)
    expect(isTierCacheError(during, 'CIRCUIT_OPEN')).toBe(true)
    release()
    await expect(probe).resolves.toBe('ok')
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })

  it('re-opens when the probe fails; permanent errors do not count', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, halfOpenAfterMs: 50 })
    const wrongType = () => Promise.reject(Object.assign(new Error('WRONGTYPE x'), { name: 'ReplyError' }))
    for (let i = 0; i < 5; i++) await breaker.execute(wrongType).catch(() => undefined)
    expect(breaker.state).toBe('closed')
    await breaker.execute(down).catch(() => undefined)
    await breaker.execute(down).catch(() => undefined)
    expect(breaker.state).toBe('open')
    await sleep(70)
    await breaker.execute(down).catch(() => undefined)
    expect(breaker.state).toBe('open')
  })
})
