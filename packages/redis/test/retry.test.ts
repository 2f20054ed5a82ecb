import { describe, expect, it } from 'vitest'
import { fullJitterDelay, retryWithDeadline } from '../src/resilience/retry.js'

const transient = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })

describe('fullJitterDelay', () => {
  it('is uniform in [0, min(max, base·2^n))', () => {
    expect(fullJitterDelay(0, 10, 1000, () => 0.999)).toBe(9)
    expect(fullJitterDelay(3, 10, 1000, () => 0.5)).toBe(40)
    expect(fullJitterDelay(20, 10, 1000, () => 0.5)).toBe(500)
    expect(fullJitterDelay(5, 10, 1000, () => 0)).toBe(0)
  })
})

describe('retryWithDeadline', () => {
  it('retries retryable errors until success and reports each retry', async () => {
    let calls = 0
    const retries: number[] = []
    const value = await retryWithDeadline(
      async () => {
        if (++calls < 3) throw transient()
        return 'ok'
      },
      { deadlineMs: 1000, baseDelayMs: 1, onRetry: (e) => retries.push(e.attempt) },
    )
    expect(value).toBe('ok')
    expect(calls).toBe(3)
    expect(retries).toEqual([2, 3])
  })

  it('does not retry permanent errors', async () => {
    let calls = 0
    const error = Object.assign(new Error('WRONGTYPE x'), { name: 'ReplyError' })
    await expect(
      retryWithDeadline(
        async () => {
          calls++
          throw error
        },
        { deadlineMs: 1000 },
      ),
    ).rejects.toBe(error)
    expect(calls).toBe(1)
  })

  it('stops at the deadline and throws the last real error', async () => {
    const started = Date.now()
    let last: Error | undefined
    const attempt = async () => {
      last = transient()
      throw last
    }
    const failure = await retryWithDeadline(attempt, {
      deadlineMs: 150,
      baseDelayMs: 10,
      maxDelayMs: 40,
    }).catch((e: unknown) => e)
    const elapsed = Date.now() - started
    expect(failure).toBe(last)
    expect(elapsed).toBeLessThan(250)
    expect(elapsed).toBeGreaterThanOrEqual(0)
  })

  it('hands the remaining budget to the attempt and honours maxAttempts and abort', async () => {
    const budgets: number[] = []
    await retryWithDeadline(
      async ({ remainingMs }) => {
        budgets.push(remainingMs)
        throw transient()
      },
      { deadlineMs: 500, baseDelayMs: 1, maxAttempts: 3 },
    ).catch(() => undefined)
    expect(budgets).toHaveLength(3)
    expect(budgets[0]).toBeLessThanOrEqual(500)
    expect(budgets[2]!).toBeLessThanOrEqual(budgets[0]!)

    const controller = new AbortController()
    const started = Date.now()
    setTimeout(() => controller.abort(), 30)
    await retryWithDeadline(
      async () => {
        throw transient()
      },
      { deadlineMs: 5000, baseDelayMs: 200, maxDelayMs: 200, random: () => 0.99, signal: controller.signal },
    ).catch(() => undefined)
    expect(Date.now() - started).toBeLessThan(1000)
  })
})
