import { afterEach, describe, expect, it, vi } from 'vitest'
import { FailoverJournal } from '../src/failover-journal.js'

/** The node rules of the failover journal, without a server (the chaos tests run them on a real one). */
describe('FailoverJournal', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const onA = () => {
    const journal = new FailoverJournal(10_000)
    journal.moveTo('A')
    return journal
  }

  it('a key written on the current master is trusted there, and suspect on any other or unknown node', () => {
    const journal = onA()
    journal.record({ kind: 'delete', keys: ['k'] }, 'A')
    expect(journal.isSuspect('k', 'A')).toBe(false)
    expect(journal.isSuspect('k', 'B')).toBe(true)
    expect(journal.isSuspect('k', undefined)).toBe(true)
    expect(journal.isSuspect('other', 'B')).toBe(false)
    expect(journal.suspects).toBe(0)
  })

  it('moving to another master turns the window into repairs; a repair acknowledged there settles the key', () => {
    const journal = onA()
    journal.record({ kind: 'delete', keys: ['k1', 'k2'] }, 'A')
    journal.record({ kind: 'bumpGenerations', keys: ['g'] }, 'A')
    expect(journal.moveTo('B')).toEqual({ changed: true, repairs: 3, overflowed: false })
    expect(journal.repairs()).toEqual([
      { kind: 'delete', keys: ['k1', 'k2'] },
      { kind: 'bumpGenerations', keys: ['g'] },
    ])
    expect(journal.isSuspect('k1', 'B')).toBe(true)
    journal.record({ kind: 'delete', keys: ['k1'] }, 'B')
    expect(journal.isSuspect('k1', 'B')).toBe(false)
    expect(journal.isSuspect('k2', 'B')).toBe(true)
    expect(journal.suspects).toBe(2)
  })

  it('marks older than the window at the move are taken as replicated; owed repairs never age out', () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const journal = onA()
    journal.record({ kind: 'delete', keys: ['old'] }, 'A')
    vi.advanceTimersByTime(9_000)
    journal.record({ kind: 'delete', keys: ['young'] }, 'A')
    vi.advanceTimersByTime(2_000)
    journal.moveTo('B')
    expect(journal.repairs()).toEqual([{ kind: 'delete', keys: ['young'] }])
    expect(journal.isSuspect('old', 'B')).toBe(false)
    vi.advanceTimersByTime(60_000)
    journal.record({ kind: 'delete', keys: ['unrelated'] }, 'B')
    journal.moveTo('C')
    expect(journal.repairs()).toEqual([{ kind: 'delete', keys: ['young', 'unrelated'] }])
    expect(journal.isSuspect('young', 'C')).toBe(true)
  })

  it('back on a master that acknowledged the newest write (same identity): trusted again', () => {
    const journal = onA()
    journal.record({ kind: 'delete', keys: ['k'] }, 'A')
    journal.moveTo('B')
    expect(journal.isSuspect('k', 'B')).toBe(true)
    expect(journal.moveTo('A').repairs).toBe(0)
    expect(journal.isSuspect('k', 'A')).toBe(false)
  })

  it('a cleared prefix is suspect for its keys (not under keepPrefix) until cleared again or overwritten', () => {
    const journal = onA()
    journal.record({ kind: 'clearPrefix', prefix: 'ns:', keepPrefix: 'ns:__tc:' }, 'A')
    journal.moveTo('B')
    expect(journal.isSuspect('ns:k', 'B')).toBe(true)
    expect(journal.isSuspect('ns:__tc:tag:t', 'B')).toBe(false)
    expect(journal.isSuspect('other:k', 'B')).toBe(false)
    journal.record({ kind: 'delete', keys: ['ns:k'] }, 'B')
    expect(journal.isSuspect('ns:k', 'B')).toBe(false)
    expect(journal.isSuspect('ns:j', 'B')).toBe(true)
    journal.record({ kind: 'clearPrefix', prefix: 'ns:', keepPrefix: 'ns:__tc:' }, 'B')
    expect(journal.isSuspect('ns:j', 'B')).toBe(false)
    expect(journal.suspects).toBe(0)
  })
})
