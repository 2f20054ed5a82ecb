import { isTierCacheError, TierCacheError } from '@tiercache/core'
import { describe, expect, it } from 'vitest'
import { CircuitBreaker, type CircuitStateName } from '../src/resilience/breaker.js'
import { FAST_MS } from './support/timing.js'

const down = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** An open breaker rejects CIRCUIT_OPEN at once, without calling the command. */
async function expectFailsFast(breaker: CircuitBreaker): Promise<void> {
  let called = false
  const started = performance.now()
  const error = await breaker
    .execute(async () => {
      called = true
    })
    .catch((e: unknown) => e)
  expect(performance.now() - started).toBeLessThan(FAST_MS)
  expect(called).toBe(false)
  expect(isTierCacheError(error, 'CIRCUIT_OPEN')).toBe(true)
}

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, fails fast, probes after the cool-down and closes', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 100 })
    const states: CircuitStateName[] = []
    breaker.onStateChange((s) => states.push(s))
    for (let i = 0; i < 3; i++) await breaker.execute(down).catch(() => undefined)
    expect(breaker.state).toBe('open')

    await expectFailsFast(breaker)

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

describe('CircuitBreaker fast path (closed / onSuccess / onFailure)', () => {
  const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
  const timedOut = () => new Error('Command timed out')
  const wrongType = () =>
    Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' })

  it('closed is true while closed, false while open or probing, true again after the probe succeeds', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 50 })
    expect(breaker.closed).toBe(true)
    expect(breaker.state).toBe('closed')
    await breaker.execute(down).catch(() => undefined)
    expect(breaker.closed).toBe(false)
    expect(breaker.state).toBe('open')
    await sleep(70)
    // Cool-down over but no call yet: still open until a call becomes the probe.
    expect(breaker.closed).toBe(false)
    let release!: () => void
    const probe = breaker.execute(() => new Promise<void>((r) => (release = r)))
    expect(breaker.state).toBe('half-open')
    expect(breaker.closed).toBe(false)
    release()
    await probe
    expect(breaker.closed).toBe(true)
    expect(breaker.state).toBe('closed')
  })

  it('onFailure counts consecutive failures to the threshold; the one that reaches it opens the circuit', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 10_000 })
    const states: CircuitStateName[] = []
    breaker.onStateChange((s) => states.push(s))
    breaker.onFailure(refused())
    breaker.onFailure(timedOut())
    await sleep(1)
    expect(breaker.closed).toBe(true)
    expect(states).toEqual([])
    breaker.onFailure(refused())
    // Open as soon as the threshold is reached: a call issued right after must not reach the server.
    expect(breaker.closed).toBe(false)
    expect(breaker.state).toBe('open')
    await expectFailsFast(breaker)
    await sleep(1)
    expect(breaker.state).toBe('open')
    expect(states).toEqual(['open'])
    // Further reports while open change nothing (no second 'open', no close on a late success).
    breaker.onFailure(refused())
    breaker.onSuccess()
    await sleep(1)
    expect(breaker.closed).toBe(false)
    expect(states).toEqual(['open'])
  })

  it('onSuccess resets the count; errors that are not failures neither count nor reset', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 10_000 })
    breaker.onFailure(refused())
    breaker.onFailure(refused())
    breaker.onSuccess()
    breaker.onFailure(refused())
    breaker.onFailure(refused())
    await sleep(1)
    expect(breaker.closed).toBe(true)
    for (let i = 0; i < 10; i++) breaker.onFailure(wrongType())
    breaker.onFailure(new TierCacheError('INVALID_OPTION', 'not an availability error'))
    await sleep(1)
    expect(breaker.closed).toBe(true)
    // Still two in a row: one more availability failure opens it.
    breaker.onFailure(timedOut())
    await sleep(1)
    expect(breaker.state).toBe('open')
  })

  it('fast-path reports and execute share one count', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 10_000 })
    breaker.onFailure(refused())
    await breaker.execute(down).catch(() => undefined)
    expect(breaker.closed).toBe(true)
    breaker.onFailure(refused())
    await sleep(1)
    expect(breaker.state).toBe('open')

    const other = new CircuitBreaker({ failureThreshold: 2, halfOpenAfterMs: 10_000 })
    other.onFailure(refused())
    await other.execute(async () => 'ok')
    other.onFailure(refused())
    await sleep(1)
    expect(other.closed).toBe(true)
    await other.execute(down).catch(() => undefined)
    expect(other.state).toBe('open')
  })

  it('after onFailure opened it: one probe through execute, others fail fast, probe failure re-opens, success closes', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, halfOpenAfterMs: 50 })
    const states: CircuitStateName[] = []
    breaker.onStateChange((s) => states.push(s))
    breaker.onFailure(refused())
    breaker.onFailure(refused())
    await sleep(1)
    expect(states).toEqual(['open'])

    // Before the cool-down: fail fast.
    expect(
      isTierCacheError(await breaker.execute(async () => 'x').catch((e: unknown) => e), 'CIRCUIT_OPEN'),
    ).toBe(true)
    await sleep(70)
    // A failed probe re-opens (another full cool-down).
    await breaker.execute(down).catch(() => undefined)
    expect(breaker.state).toBe('open')
    expect(breaker.closed).toBe(false)
    expect(
      isTierCacheError(await breaker.execute(async () => 'x').catch((e: unknown) => e), 'CIRCUIT_OPEN'),
    ).toBe(true)
    await sleep(70)
    let release!: (value: string) => void
    const probe = breaker.execute(() => new Promise<string>((r) => (release = r)))
    expect(breaker.state).toBe('half-open')
    // While the probe is in flight: fast-path reports are ignored, other calls fail fast.
    breaker.onFailure(refused())
    breaker.onFailure(refused())
    breaker.onSuccess()
    expect(breaker.closed).toBe(false)
    const during = await breaker.execute(async () => 'x').catch((e: unknown) => e)
    expect(isTierCacheError(during, 'CIRCUIT_OPEN')).toBe(true)
    release('probed')
    await expect(probe).resolves.toBe('probed')
    expect(breaker.closed).toBe(true)
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed'])

    // Closed again with a fresh count: threshold - 1 failures keep it closed.
    breaker.onFailure(refused())
    await sleep(1)
    expect(breaker.closed).toBe(true)
    breaker.onFailure(refused())
    await sleep(1)
    expect(breaker.state).toBe('open')
  })
})
