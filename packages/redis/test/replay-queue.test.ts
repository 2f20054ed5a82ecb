import { describe, expect, it } from 'vitest'
import { type QueuedInvalidation, ReplayQueue } from '../src/resilience/replay-queue.js'

describe('ReplayQueue', () => {
  it('replays in order, stops at the first failure and resumes on the next pass', async () => {
    const queue = new ReplayQueue()
    const a = queue.enqueue({ kind: 'delete', keys: ['n:a'] })
    const b = queue.enqueue({ kind: 'bumpGenerations', keys: ['n:__tc:tag:t'] })
    const c = queue.enqueue({ kind: 'clearPrefix', prefix: 'n:', keepPrefix: 'n:__tc:' })
    expect(queue.size).toBe(3)
    const seen: string[] = []
    let fail = true
    const apply = async (op: QueuedInvalidation) => {
      if (op.kind === 'bumpGenerations' && fail) throw new Error('down')
      seen.push(op.kind)
    }
    expect(await queue.replay(apply)).toBe(1)
    expect(await a).toBe('applied')
    expect(queue.size).toBe(2)
    fail = false
    expect(await queue.replay(apply)).toBe(2)
    expect(await b).toBe('applied')
    expect(await c).toBe('applied')
    expect(seen).toEqual(['delete', 'bumpGenerations', 'clearPrefix'])
  })

  it('coalesces duplicates into one slot', async () => {
    const queue = new ReplayQueue()
    const first = queue.enqueue({ kind: 'delete', keys: ['n:a', 'n:b'] })
    const second = queue.enqueue({ kind: 'delete', keys: ['n:b', 'n:a'] })
    expect(queue.size).toBe(1)
    let applied = 0
    await queue.replay(async () => {
      applied++
    })
    expect(applied).toBe(1)
    expect(await first).toBe('applied')
    expect(await second).toBe('applied')
  })

  it('on overflow collapses into namespace clears instead of dropping', async () => {
    const overflows: number[] = []
    const queue = new ReplayQueue({ maxSize: 3, onOverflow: (n) => overflows.push(n) })
    const promises = [
      queue.enqueue({ kind: 'delete', keys: ['billing:1'] }),
      queue.enqueue({ kind: 'bumpGenerations', keys: ['billing:__tc:tag:x'] }),
      queue.enqueue({ kind: 'delete', keys: ['users:sub:2'] }),
      queue.enqueue({ kind: 'delete', keys: ['billing:4'] }),
    ]
    expect(overflows).toEqual([3])
    const ops: QueuedInvalidation[] = []
    await queue.replay(async (op) => {
      ops.push(op)
    })
    expect(ops).toEqual([
      { kind: 'clearPrefix', prefix: 'billing:', keepPrefix: 'billing:__tc:' },
      { kind: 'clearPrefix', prefix: 'users:', keepPrefix: 'users:__tc:' },
      { kind: 'delete', keys: ['billing:4'] },
    ])
    expect(await Promise.all(promises)).toEqual(['applied', 'applied', 'applied', 'applied'])
  })

  it('close drops what is left', async () => {
    const queue = new ReplayQueue()
    const p = queue.enqueue({ kind: 'delete', keys: ['a'] })
    queue.close()
    expect(await p).toBe('dropped')
    expect(await queue.enqueue({ kind: 'delete', keys: ['b'] })).toBe('dropped')
  })
})
