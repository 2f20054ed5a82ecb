import { describe, expect, it } from 'vitest'
import { ReplicaReadGuard } from '../src/replica-read-guard.js'

describe('ReplicaReadGuard (role=replica reads its own and others’ invalidations from the master)', () => {
  it('sends a touched key to the master for the window, then back to replicas', () => {
    const guard = new ReplicaReadGuard(1_000)
    const now = Date.now()
    expect(guard.needsMaster('a', now)).toBe(false)
    guard.touch(['a'])
    expect(guard.needsMaster('a', now + 10)).toBe(true)
    expect(guard.needsMaster('b', now + 10)).toBe(false)
    expect(guard.needsMaster('a', now + 1_100)).toBe(false)
  })

  it('a prefix (clear) covers every key under it', () => {
    const guard = new ReplicaReadGuard(1_000)
    guard.touchPrefix('billing:')
    expect(guard.needsMaster('billing:user:1')).toBe(true)
    expect(guard.needsMaster('other:user:1')).toBe(false)
  })

  it('bus messages from other instances count like own changes', () => {
    const guard = new ReplicaReadGuard(1_000)
    guard.observe({ origin: 'other', keys: ['n:k'], prefixes: ['n:sub:'] })
    expect(guard.needsMaster('n:k')).toBe(true)
    expect(guard.needsMaster('n:sub:x')).toBe(true)
    expect(guard.needsMaster('n:other')).toBe(false)
  })

  it('touching again extends the window; expired keys are dropped in expiry order', () => {
    const guard = new ReplicaReadGuard(100)
    const start = Date.now()
    guard.touch(['a', 'b'])
    guard.touch(['a'])
    expect(guard.needsMaster('a', start + 50)).toBe(true)
    expect(guard.needsMaster('b', start + 500)).toBe(false)
    expect(guard.needsMaster('a', start + 500)).toBe(false)
  })

  it('tracking more keys than it keeps sends every read to the master for the window (never to a replica)', () => {
    const guard = new ReplicaReadGuard(1_000)
    guard.touch(Array.from({ length: 50_001 }, (_, i) => `k${i}`))
    expect(guard.needsMaster('k0')).toBe(true)
    expect(guard.needsMaster('never-touched')).toBe(true)
  })
})
