import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import {
  type Cache,
  type CacheOptions,
  cacheOptionsFromEnv,
  createCache,
  refreshTelemetry,
  type StoreOption,
  type TierCacheLogger,
} from '@tiercache/core'
import {
  type ClusterTopology,
  freePort,
  generateTlsMaterial,
  redisBinary,
  type SentinelTopology,
  type StandaloneTopology,
  startCluster,
  startSentinel,
  startStandalone,
  type TlsMaterial,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Secrets never leave tiercache: a distinctive password and a TLS private key, given in URLs and in the
 * options form of every store, driven into every failure we can provoke (rejected password, unreachable
 * host, bad URL parameters, bad options, malformed URLs, bad environment variables), and looked for in
 * everything an application can see or log: thrown errors with their cause chains (`util.inspect`, which
 * shows enumerable properties such as ioredis' `error.command` like pino's error serialiser does), `error`
 * and `store` events, the logger hook, OpenTelemetry spans and their exception events, `String(cache)`,
 * `util.inspect(cache)`, `JSON.stringify(cache)` and `cache.health()`.
 */
const SECRET = 'S3cr3t-Pa55'
const bin = redisBinary()

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })

/** Everything the application could see, as one text per sink. */
interface Seen {
  sink: string
  text: string
}

const show = (value: unknown) => inspect(value, { depth: Number.POSITIVE_INFINITY, breakLength: 200 })

describe.skipIf(!bin.available)(
  `secrets never appear in errors, events, logs, spans or the cache (${bin.reason ?? bin.binary})`,
  () => {
    let standalone: StandaloneTopology
    let sentinel: SentinelTopology
    let cluster: ClusterTopology
    let tlsDir: string
    let material: TlsMaterial
    /** A line from the middle of the PEM private key: what must never be printed. */
    let keyLine: string

    beforeAll(async () => {
      trace.setGlobalTracerProvider(provider)
      refreshTelemetry()
      tlsDir = mkdtempSync(join(tmpdir(), 'tiercache-redaction-'))
      material = generateTlsMaterial(tlsDir)
      keyLine = material.clientKey.split('\n').find((line) => line.length > 40 && !line.startsWith('-'))!
      expect(keyLine).toBeDefined()
      ;[standalone, sentinel, cluster] = await Promise.all([
        startStandalone({ password: 'server-pw' }),
        startSentinel({ replicas: 0, sentinels: 1, password: 'server-pw', sentinelPassword: 'sentinel-pw' }),
        startCluster({ masters: 3, replicasPerMaster: 0, password: 'server-pw' }),
      ])
    }, 90_000)

    afterAll(async () => {
      await Promise.all([standalone?.stop(), sentinel?.stop(), cluster?.stop()])
      await provider.shutdown()
      trace.disable()
      if (tlsDir) rmSync(tlsDir, { recursive: true, force: true })
    })

    function expectNoSecret(seen: readonly Seen[]): void {
      expect(seen.length).toBeGreaterThan(0)
      for (const { sink, text } of seen) {
        expect(text, `${sink} shows the password`).not.toContain(SECRET)
        expect(text, `${sink} shows the TLS key`).not.toContain(keyLine)
      }
    }

    /** Runs a cache into its failure and gathers every sink. `expectFailure` proves the failure happened. */
    async function drive(options: CacheOptions): Promise<{ seen: Seen[]; errors: unknown[] }> {
      exporter.reset()
      const logged: unknown[] = []
      const log = (fields: object, message?: string) => logged.push({ fields, message })
      const logger: TierCacheLogger = { error: log, warn: log, info: log, debug: log }
      const cache: Cache = createCache({ ...options, logger })
      const events: unknown[] = []
      cache.on('error', (e) => events.push(e))
      cache.on('store', (e) => events.push(e))
      cache.on('retry', (e) => events.push(e))
      const errors: unknown[] = []
      const settle = (p: Promise<unknown>) =>
        p.then(
          () => undefined,
          (error: unknown) => errors.push(error),
        )
      try {
        await settle(cache.ready())
        await settle(cache.get('k'))
        await settle(cache.getOrSet('k', () => 'v'))
        await settle(cache.set('k', 'v'))
        await settle(cache.delete('k'))
        await settle(cache.invalidateTags('t'))
        const seen: Seen[] = [
          { sink: 'thrown errors', text: show(errors) },
          { sink: 'error stacks', text: errors.map((e) => String((e as Error)?.stack)).join('\n') },
          { sink: 'events', text: show(events) },
          { sink: 'logger', text: show(logged) },
          {
            sink: 'spans',
            text: show(exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status])),
          },
          { sink: 'String(cache)', text: String(cache) },
          {
            sink: 'inspect(cache)',
            text: inspect(cache, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
          },
          { sink: 'JSON.stringify(cache)', text: String(JSON.stringify(cache)) },
          { sink: 'health()', text: `${JSON.stringify(cache.health())}\n${show(cache.health())}` },
          {
            sink: 'namespace handle',
            text: `${String(cache.namespace('x'))} ${inspect(cache.namespace('x'))}`,
          },
        ]
        return { seen, errors }
      } finally {
        await cache.close()
      }
    }

    const hosts = (nodes: ReadonlyArray<{ host: string; port: number }>) =>
      nodes.map((n) => `${n.host}:${n.port}`).join(',')
    const codes = (errors: unknown[]) => errors.map((e) => (e as { code?: string })?.code)

    // ── Stores that reject the password ───────────────────────────────────────────────────────────────

    const rejected: Array<[string, () => StoreOption]> = [
      ['redis URL user:pass@', () => `redis://app:${SECRET}@127.0.0.1:${standalone.port}`],
      ['redis URL :pass@', () => `redis://:${SECRET}@127.0.0.1:${standalone.port}`],
      [
        'redis options form',
        () => ({ url: `redis://127.0.0.1:${standalone.port}`, username: 'app', password: SECRET }),
      ],
      [
        'sentinel URL (data-node password)',
        () =>
          `redis+sentinel://app:${SECRET}@${hosts(sentinel.sentinels)}/mymaster?sentinelPassword=sentinel-pw`,
      ],
      [
        'sentinel URL (sentinelPassword in the query)',
        () => `redis+sentinel://${hosts(sentinel.sentinels)}/mymaster?sentinelPassword=${SECRET}`,
      ],
      [
        'sentinel options form',
        () => ({
          type: 'sentinel',
          sentinels: sentinel.sentinels.map((s) => ({ host: s.host, port: s.port })),
          name: 'mymaster',
          password: SECRET,
          sentinelPassword: SECRET,
        }),
      ],
      ['cluster URL', () => `redis+cluster://app:${SECRET}@${hosts(cluster.seeds)}`],
      [
        'cluster options form',
        () => ({ type: 'cluster', nodes: cluster.seeds, username: 'app', password: SECRET }),
      ],
    ]

    it.each(rejected)(
      '%s, password rejected → AUTH_FAILED, and the password is nowhere',
      async (_name, store) => {
        const { seen, errors } = await drive({ store: store(), namespace: 'app' })
        expect(codes(errors)).toContain('AUTH_FAILED')
        expectNoSecret(seen)
      },
    )

    // ── Unreachable stores, with a password and TLS material (key, passphrase) ────────────────────────

    it.each([
      [
        'redis',
        (port: number) =>
          `rediss://app:${SECRET}@127.0.0.1:${port}?connectTimeoutMs=300&commandTimeoutMs=300&invalidationDeadlineMs=200`,
      ],
      [
        'sentinel',
        (port: number) =>
          `rediss+sentinel://app:${SECRET}@127.0.0.1:${port}/mymaster?sentinelPassword=${SECRET}&connectTimeoutMs=300&commandTimeoutMs=300&invalidationDeadlineMs=200`,
      ],
      ['cluster', (port: number) => `rediss+cluster://app:${SECRET}@127.0.0.1:${port}?readyTimeoutMs=500`],
    ])('%s: unreachable host with a password and a TLS key → the secrets are nowhere', async (_name, url) => {
      const port = await freePort()
      const { seen, errors } = await drive({
        store: {
          url: url(port),
          password: SECRET,
          tls: { ca: material.ca, cert: material.clientCert, key: material.clientKey, passphrase: SECRET },
        },
        namespace: 'app',
        l1: false,
      })
      expect(codes(errors)).toContain('STORE_UNAVAILABLE')
      expectNoSecret(seen)
    })

    // ── Misconfiguration the adapter finds (after createCache returned) ───────────────────────────────

    it.each([
      [
        'redis: a bad tuning parameter',
        () => `redis://app:${SECRET}@127.0.0.1:${standalone.port}?commandTimeoutMs=soon`,
      ],
      [
        'redis: an unknown parameter',
        () => `redis://app:${SECRET}@127.0.0.1:${standalone.port}?password=${SECRET}`,
      ],
      [
        'sentinel: an unknown parameter',
        () =>
          `redis+sentinel://app:${SECRET}@${hosts(sentinel.sentinels)}/mymaster?bogus=1&sentinelPassword=${SECRET}`,
      ],
      [
        'sentinel: a bad role',
        () =>
          `redis+sentinel://app:${SECRET}@${hosts(sentinel.sentinels)}/mymaster?role=boss&sentinelPassword=${SECRET}`,
      ],
      [
        'cluster: a bad scaleReads',
        () => `redis+cluster://app:${SECRET}@${hosts(cluster.seeds)}?scaleReads=nope`,
      ],
      [
        'redis: tls is neither a boolean nor options',
        () => ({ url: `redis://127.0.0.1:${standalone.port}`, password: SECRET, tls: 'yes' }),
      ],
      [
        'sentinel: no sentinels',
        () => ({
          type: 'sentinel',
          sentinels: [],
          name: 'mymaster',
          password: SECRET,
          sentinelPassword: SECRET,
        }),
      ],
      ['cluster: a bad seed node', () => ({ type: 'cluster', nodes: ['nowhere'], password: SECRET })],
    ])('%s → ready() rejects, and the secret is nowhere', async (_name, store) => {
      const { seen, errors } = await drive({ store: store() as StoreOption, namespace: 'app' })
      expect(codes(errors).some((code) => code === 'INVALID_URL' || code === 'INVALID_OPTION')).toBe(true)
      expectNoSecret(seen)
    })

    // ── Errors thrown by createCache and cacheOptionsFromEnv ──────────────────────────────────────────

    it.each([
      ['a bad port', `redis://app:${SECRET}@127.0.0.1:port`],
      ['an unencoded ? in the password', `redis://app:${SECRET}?x@127.0.0.1:6390`],
      ['a ? in the password, bad host', `redis://:${SECRET}?@h`],
      ['no scheme', `app:${SECRET}@127.0.0.1:6390`],
      ['an unknown scheme', `mongodb://app:${SECRET}@127.0.0.1`],
      ['several hosts in redis://', `redis://app:${SECRET}@h1:6390,h2:6390`],
      ['bad percent-encoding', `redis://app:${SECRET}%zz@h:6390`],
      ['a sentinel URL without a master name', `redis+sentinel://app:${SECRET}@h:26390`],
      [
        'a sentinel URL with a bad port and sentinelPassword',
        `redis+sentinel://h:x/mymaster?sentinelPassword=${SECRET}`,
      ],
      ['a cluster URL with a bad host', `redis+cluster://app:${SECRET}@h1:7000,:7001`],
    ])('createCache with %s throws a TierCacheError without the password', (_name, url) => {
      let thrown: unknown
      try {
        createCache({ store: url })
      } catch (error) {
        thrown = error
      }
      expect((thrown as { code?: string })?.code).toMatch(/^(INVALID_URL|UNKNOWN_SCHEME)$/)
      expectNoSecret([
        { sink: 'message', text: String((thrown as Error).message) },
        { sink: 'inspect', text: show(thrown) },
        { sink: 'stack', text: String((thrown as Error).stack) },
      ])
    })

    it.each([
      ['a malformed TIERCACHE_URL', { TIERCACHE_URL: `redis://app:${SECRET}@h:port` }],
      [
        'a TIERCACHE_URL with sentinelPassword and no master',
        { TIERCACHE_URL: `redis+sentinel://h:26390?sentinelPassword=${SECRET}` },
      ],
      ['TIERCACHE_PASSWORD without TIERCACHE_URL', { TIERCACHE_PASSWORD: SECRET }],
      ['TIERCACHE_PASSWORD with memory://', { TIERCACHE_URL: 'memory://', TIERCACHE_PASSWORD: SECRET }],
      [
        'a bad TIERCACHE_TLS next to the password',
        { TIERCACHE_URL: 'redis://h:6390', TIERCACHE_PASSWORD: SECRET, TIERCACHE_TLS: 'maybe' },
      ],
    ])('cacheOptionsFromEnv with %s throws without the password', (_name, env) => {
      let thrown: unknown
      try {
        cacheOptionsFromEnv(env)
      } catch (error) {
        thrown = error
      }
      expect((thrown as { code?: string })?.code).toMatch(/^(INVALID_URL|INVALID_OPTION)$/)
      expectNoSecret([
        { sink: 'message', text: String((thrown as Error).message) },
        { sink: 'inspect', text: show(thrown) },
      ])
    })

    it('a working cache with a password in the URL shows it nowhere either (health, String, inspect, JSON)', async () => {
      const cache = createCache({ store: `redis://:server-pw@127.0.0.1:${standalone.port}`, namespace: 'ok' })
      try {
        await cache.ready()
        await cache.set('k', 1)
        for (const text of [
          String(cache),
          inspect(cache, { depth: 10, showHidden: true }),
          String(JSON.stringify(cache)),
        ])
          expect(text).not.toContain('server-pw')
        expect(JSON.stringify(cache.health())).not.toContain('server-pw')
      } finally {
        await cache.close()
      }
    })
  },
)
