import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import { createCache, isTierCacheError, type StoreOption, type TierCacheError } from '@tiercache/core'
import { probeTlsRefusal, toFatalError } from '@tiercache/redis'
import {
  generateTlsMaterial,
  type StandaloneTopology,
  startStandalone,
  type TlsMaterial,
  tlsAvailable,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectEveryOperationRejects } from './support/fatal-operations.js'

const tls = tlsAvailable()

/**
 * A server that asks for client certificates (`tls-auth-clients yes`) and has an ACL user: TLS material and
 * credentials in every form a store accepts — rediss:// and valkeys:// URLs with user:pass@, the options
 * form with `tls: { ca, cert, key, servername }`, `{ type: 'redis' }` — and the handshakes that must fail.
 */
describe.skipIf(!tls.available)(
  `mutual TLS + ACL user, live (${tls.reason ?? 'redis-server with TLS'})`,
  () => {
    let topo: StandaloneTopology
    let otherDir: string
    let other: TlsMaterial // a CA (and client certificate) that has nothing to do with the server
    const user = { name: 'app', password: 'app-pw', rules: '~app:* &app:* +@all' }
    beforeAll(async () => {
      topo = await startStandalone({ tls: true, tlsAuthClients: true, password: 'pw', users: [user] })
      otherDir = mkdtempSync(join(tmpdir(), 'tiercache-other-ca-'))
      other = generateTlsMaterial(otherDir)
    })
    afterAll(async () => {
      await topo?.stop()
      if (otherDir) rmSync(otherDir, { recursive: true, force: true })
    })
    const mtls = () => ({ ca: topo.ca!, cert: topo.clientCert!, key: topo.clientKey! })

    async function roundTrip(store: StoreOption): Promise<void> {
      const a = createCache({ store, namespace: 'app' })
      const b = createCache({ store, namespace: 'app', l1: false })
      const errors: unknown[] = []
      for (const c of [a, b]) c.on('error', (e) => errors.push(e.error))
      try {
        await Promise.all([a.ready(), b.ready()])
        await a.set('k', { v: 1 }, { tags: ['t'] })
        expect(await b.get('k')).toEqual({ v: 1 })
        expect((await b.invalidateTags('t')).status).toBe('applied')
        expect(await b.get('k')).toBeUndefined()
        expect(errors).toEqual([])
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    }

    it.each([
      [
        'rediss://app:pass@ + tls { ca, cert, key }',
        () => ({ url: `rediss://app:app-pw@127.0.0.1:${topo.port}`, tls: mtls() }),
      ],
      [
        'valkeys://app:pass@ + tls { ca, cert, key }',
        () => ({ url: `valkeys://app:app-pw@127.0.0.1:${topo.port}`, tls: mtls() }),
      ],
      [
        '{ url, username, password, tls: { ca, cert, key, servername } }',
        () => ({
          url: `rediss://127.0.0.1:${topo.port}`,
          username: 'app',
          password: 'app-pw',
          tls: { ...mtls(), servername: 'localhost' },
        }),
      ],
      [
        "{ type: 'redis', host: 'localhost', port, username, password, tls }",
        () => ({
          type: 'redis' as const,
          host: 'localhost',
          port: topo.port,
          username: 'app',
          password: 'app-pw',
          tls: mtls(),
        }),
      ],
    ])('%s: round trip, tags and a remote hit over mutual TLS', async (_name, store) => {
      await roundTrip(store())
    })

    // The server refuses a client certificate with an alert sent after the client's side of a TLS 1.3
    // handshake: the client's first write can meet a reset that discards the alert, and a reset is a
    // retryable connection error (before the store's TLS probe, that took up to 10 s of reconnects on a
    // loaded machine). On a reset the store asks again on a connection that writes nothing
    // (probeTlsRefusal), so TLS_FAILED comes from the first ready() or the next one, well within 3 s.
    it.each([
      ['no client certificate', () => ({ ca: topo.ca! })],
      [
        'a client certificate from another CA',
        () => ({ ca: topo.ca!, cert: other.clientCert, key: other.clientKey }),
      ],
    ])(
      '%s: the server refuses the handshake → TLS_FAILED within seconds, every operation rejects',
      async (_name, options) => {
        const cache = createCache({
          store: {
            url: `rediss://app:app-pw@127.0.0.1:${topo.port}`,
            tls: options(),
            connectTimeoutMs: 3_000,
          },
        })
        try {
          const t0 = Date.now()
          let error = await cache.ready().catch((e: unknown) => e)
          expect(Date.now() - t0).toBeLessThan(4_000)
          while (!isTierCacheError(error, 'TLS_FAILED') && Date.now() - t0 < 5_000)
            error = await cache.ready().catch((e: unknown) => e)
          expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
          expect(Date.now() - t0).toBeLessThan(3_000)
          expect((error as TierCacheError).message).toMatch(/client certificate.*tls\.cert/s)
          await expectEveryOperationRejects(cache, 'TLS_FAILED')
        } finally {
          await cache.close()
        }
      },
    )

    it('probeTlsRefusal: a refused client certificate comes back as the alert (TLS_FAILED), an accepted one as undefined', async () => {
      const at = (options: ConnectionOptions) => ({ host: '127.0.0.1', port: topo.port, tls: options })
      const missing = await probeTlsRefusal(at({ ca: topo.ca! }), 3_000)
      expect(toFatalError(missing)?.code).toBe('TLS_FAILED')
      const foreign = await probeTlsRefusal(
        at({ ca: topo.ca!, cert: other.clientCert, key: other.clientKey }),
        3_000,
      )
      expect(toFatalError(foreign)?.code).toBe('TLS_FAILED')
      expect(await probeTlsRefusal(at(mtls()), 3_000)).toBeUndefined()
    })

    it('a CA that did not sign the server certificate (wrong CA) → TLS_FAILED within 2 s, not a hang', async () => {
      const cache = createCache({
        store: {
          url: `rediss://app:app-pw@127.0.0.1:${topo.port}`,
          tls: { ca: other.ca, cert: topo.clientCert!, key: topo.clientKey! },
        },
      })
      try {
        const t0 = Date.now()
        const error = await cache.ready().catch((e: unknown) => e)
        expect(Date.now() - t0).toBeLessThan(2_000)
        expect(isTierCacheError(error, 'TLS_FAILED')).toBe(true)
        expect((error as TierCacheError).message).toMatch(/tls\.ca/)
        await expectEveryOperationRejects(cache, 'TLS_FAILED')
      } finally {
        await cache.close()
      }
    })
  },
)
