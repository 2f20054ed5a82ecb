import { existsSync } from 'node:fs'
import { command, dockerAvailable, RespError, redisBinary, startStandalone } from '@tiercache/testkit'
import { describe, expect, it } from 'vitest'
import { isAlive, isPortFree } from './helpers.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`standalone (${bin.available ? bin.binary : bin.reason})`, () => {
  it('starts, answers, and stop() leaves no process, no port and no folder behind', async () => {
    const t0 = Date.now()
    const redis = await startStandalone()
    const startMs = Date.now() - t0
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    expect(redis.node.kind).toBe('redis')
    const pid = redis.node.pid!
    expect(isAlive(pid)).toBe(true)
    await command(redis.host, redis.port, ['SET', 'k', 'v'])
    expect(await command(redis.host, redis.port, ['GET', 'k'])).toBe('v')
    // no persistence, loopback only
    expect(await command(redis.host, redis.port, ['CONFIG', 'GET', 'save'])).toEqual(['save', ''])
    expect(await command(redis.host, redis.port, ['CONFIG', 'GET', 'bind'])).toEqual(['bind', '127.0.0.1'])
    await redis.stop()
    await redis.stop() // idempotent
    expect(isAlive(pid)).toBe(false)
    expect(await isPortFree(redis.port)).toBe(true)
    expect(existsSync(redis.node.dir)).toBe(false)
    console.log(`standalone start: ${startMs} ms`)
  })

  it('password and ACL user', async () => {
    const redis = await startStandalone({
      password: 's3cr:t@',
      users: [{ name: 'billing', password: 'bpw', rules: '~billing:* &billing:* +@all' }],
    })
    try {
      expect(redis.url).toBe(`redis://:s3cr%3At%40@127.0.0.1:${redis.port}`)
      await expect(command(redis.host, redis.port, ['GET', 'x'])).rejects.toThrow(/NOAUTH/)
      expect(await command(redis.host, redis.port, ['PING'], { password: 's3cr:t@' })).toBe('PONG')
      const billing = { username: 'billing', password: 'bpw' }
      expect(await command(redis.host, redis.port, ['SET', 'billing:1', 'a'], billing)).toBe('OK')
      const denied = command(redis.host, redis.port, ['SET', 'users:1', 'a'], billing)
      await expect(denied).rejects.toBeInstanceOf(RespError)
      await expect(denied).rejects.toThrow(/NOPERM/)
      // users live in the config file, so they survive a restart
      await redis.restart(redis.node)
      expect(await command(redis.host, redis.port, ['PING'], billing)).toBe('PONG')
    } finally {
      await redis.stop()
    }
  })

  it('kill and restart on the same port', async () => {
    const redis = await startStandalone({ args: ['--maxmemory', '10mb'] })
    try {
      const before = redis.node.pid!
      await redis.kill(redis.node)
      expect(isAlive(before)).toBe(false)
      expect(redis.node.pid).toBeUndefined()
      await expect(command(redis.host, redis.port, ['PING'], { timeoutMs: 500 })).rejects.toThrow()
      await redis.restart(redis.node)
      expect(redis.node.pid).not.toBe(before)
      expect(await command(redis.host, redis.port, ['PING'])).toBe('PONG')
      expect(await command(redis.host, redis.port, ['CONFIG', 'GET', 'maxmemory'])).toEqual([
        'maxmemory',
        '10485760',
      ])
    } finally {
      await redis.stop()
    }
  })

  it('pause makes it hang, resume brings it back', async () => {
    const redis = await startStandalone()
    try {
      redis.pause(redis.node)
      const t0 = Date.now()
      await expect(command(redis.host, redis.port, ['PING'], { timeoutMs: 300 })).rejects.toThrow(/timed out/)
      expect(Date.now() - t0).toBeLessThan(1_000)
      redis.resume(redis.node)
      expect(await command(redis.host, redis.port, ['PING'])).toBe('PONG')
    } finally {
      await redis.stop()
    }
  })

  it('stop() also ends a paused node', async () => {
    const redis = await startStandalone()
    const pid = redis.node.pid!
    redis.pause(redis.node)
    await redis.stop()
    expect(isAlive(pid)).toBe(false)
  })
})

describe('docker detection', () => {
  it('answers quickly and never throws', async () => {
    const t0 = Date.now()
    const status = await dockerAvailable()
    expect(Date.now() - t0).toBeLessThan(3_500)
    expect(typeof status.available).toBe('boolean')
    if (!status.available) expect(status.reason).toBeTruthy()
  })

  it.skipIf(!bin.available)("engine 'auto' picks the binary without waiting on docker", async () => {
    const t0 = Date.now()
    const redis = await startStandalone({ engine: 'auto' })
    try {
      expect(redis.node.pid).toBeTypeOf('number')
      expect(Date.now() - t0).toBeLessThan(3_000)
    } finally {
      await redis.stop()
    }
  })
})
