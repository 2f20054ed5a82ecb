import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import {
  command,
  keySlot,
  startCluster,
  startSentinel,
  startStandalone,
  tlsAvailable,
} from '@tiercache/testkit'
import { describe, expect, it } from 'vitest'

const tls = tlsAvailable()

describe.skipIf(!tls.available)(`TLS topologies (${tls.reason ?? 'redis-server with TLS, openssl'})`, () => {
  it('standalone: rediss:// URL, TLS only, a CA that verifies 127.0.0.1 and localhost', async () => {
    const redis = await startStandalone({ tls: true, password: 'pw' })
    try {
      expect(redis.url).toBe(`rediss://:pw@127.0.0.1:${redis.port}`)
      expect(redis.ca).toMatch(/^-----BEGIN CERTIFICATE-----/)
      const ca = redis.ca!
      const opts = { password: 'pw', tls: { ca } }
      expect(await command(redis.host, redis.port, ['SET', 'k', 'v'], opts)).toBe('OK')
      expect(await command(redis.host, redis.port, ['GET', 'k'], opts)).toBe('v')
      const asLocalhost = { ...opts, tls: { ca, servername: 'localhost' } }
      expect(await command(redis.host, redis.port, ['PING'], asLocalhost)).toBe('PONG')
      // verification is real: without the CA, or for another name, the handshake fails
      await expect(command(redis.host, redis.port, ['PING'], { password: 'pw', tls: {} })).rejects.toThrow(
        /self-signed certificate/,
      )
      await expect(
        command(redis.host, redis.port, ['PING'], { ...opts, tls: { ca, servername: 'cache.example' } }),
      ).rejects.toThrow(/altnames/)
      // no plain-text listener
      await expect(
        command(redis.host, redis.port, ['PING'], { password: 'pw', timeoutMs: 500 }),
      ).rejects.toThrow()
      const cert = new X509Certificate(redis.ca!)
      expect(cert.ca).toBe(true)
      // restart keeps serving TLS with the same certificate
      await redis.restart(redis.node)
      expect(await command(redis.host, redis.port, ['PING'], opts)).toBe('PONG')
    } finally {
      await redis.stop()
    }
    expect(existsSync(redis.node.dir)).toBe(false)
  })

  it('sentinel: data nodes replicate and sentinels monitor over TLS; rediss+sentinel:// URL', async () => {
    const topo = await startSentinel({ tls: true, replicas: 1, sentinels: 1, sentinelPassword: 'spw' })
    try {
      const hosts = topo.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')
      expect(topo.url).toBe(`rediss+sentinel://${hosts}/mymaster?sentinelPassword=spw`)
      const ca = topo.ca!
      const master = await topo.master()
      expect(await command(master.host, master.port, ['SET', 'k', 'v'], { tls: { ca } })).toBe('OK')
      const replica = topo.nodes[1]!
      await expect
        .poll(() => command(replica.host, replica.port, ['GET', 'k'], { tls: { ca } }), { timeout: 5_000 })
        .toBe('v')
      const sentinel = topo.sentinels[0]!
      const reply = await command(sentinel.host, sentinel.port, ['PING'], { password: 'spw', tls: { ca } })
      expect(reply).toBe('PONG')
    } finally {
      await topo.stop()
    }
  })

  it('cluster: nodes gossip, replicate and serve over TLS; rediss+cluster:// URL', async () => {
    const topo = await startCluster({ tls: true, masters: 3, replicasPerMaster: 1 })
    try {
      expect(topo.url).toMatch(/^rediss\+cluster:\/\/127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){5}$/)
      const ca = topo.ca!
      const owner = await topo.masterForSlot(keySlot('k'))
      expect(await command(owner.host, owner.port, ['SET', 'k', 'v'], { tls: { ca } })).toBe('OK')
      const other = topo.nodes.find((n) => n !== owner)!
      const moved = await command(other.host, other.port, ['GET', 'k'], { tls: { ca } }).catch(
        (e: Error) => e,
      )
      expect(String(moved)).toContain(`MOVED ${keySlot('k')} 127.0.0.1:${owner.port}`)
      expect((await topo.masters()).length).toBe(3)
    } finally {
      await topo.stop()
    }
  })
})

describe('tlsAvailable', () => {
  it('answers synchronously with a reason when unavailable', () => {
    const status = tlsAvailable()
    expect(typeof status.available).toBe('boolean')
    if (!status.available) expect(status.reason).toMatch(/\w/)
    expect(tlsAvailable()).toBe(status) // cached
  })
})
