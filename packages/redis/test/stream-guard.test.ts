import { redisBinary, type StandaloneTopology, startStandalone } from '@tiercache/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardStreams } from '../src/index.js'

const bin = redisBinary()

/**
 * A socket that errors twice (a TLS socket can: a reset, then the peer's alert while it is torn down — an
 * uncaught "tlsv1 alert decode error" in one CI run) must not crash the process: ioredis listens with `once`.
 */
describe.skipIf(!bin.available)(`guardStreams (${bin.reason ?? bin.binary})`, () => {
  let topo: StandaloneTopology
  beforeAll(async () => {
    topo = await startStandalone()
  })
  afterAll(async () => {
    await topo?.stop()
  })

  const connected = async (guarded: boolean) => {
    const client = new Redis({
      host: topo.host,
      port: topo.port,
      lazyConnect: true,
      retryStrategy: () => null,
    })
    client.on('error', () => undefined)
    if (guarded) guardStreams(client)
    await client.connect()
    return client
  }

  /** The socket of `client` takes `count` errors in a row without throwing (`error 1`, `error 2`, …). */
  const takesRepeatedErrors = (client: Redis, count = 2) => {
    const stream = client.stream
    expect(() => {
      for (let i = 1; i <= count; i++) stream.emit('error', new Error(`error ${i}`))
    }).not.toThrow()
  }

  it('control: without the guard, a second error on the socket throws (what crashed the process)', async () => {
    const client = await connected(false)
    const stream = client.stream
    stream.emit('error', new Error('first'))
    expect(() => stream.emit('error', new Error('second'))).toThrow('second')
    client.disconnect()
  })

  it('with the guard, the socket takes any number of errors; the first still reaches ioredis', async () => {
    const client = await connected(true)
    const seen: string[] = []
    client.on('error', (error: Error) => seen.push(error.message))
    takesRepeatedErrors(client, 3)
    expect(seen).toContain('error 1')
    client.disconnect()
  })

  it('a duplicate of a guarded client is guarded too (ioredis Cluster reads its slot map on one)', async () => {
    const client = await connected(true)
    const copy = client.duplicate({ lazyConnect: true, retryStrategy: () => null })
    copy.on('error', () => undefined)
    await copy.connect()
    takesRepeatedErrors(copy)
    copy.disconnect()
    client.disconnect()
  })

  it('the connections a Sentinel-managed client opens to ask the sentinels are lazy and guarded too', async () => {
    const managed = guardStreams(
      new Redis({ sentinels: [{ host: topo.host, port: topo.port }], name: 'none', lazyConnect: true }),
    )
    type Connector = { connectToSentinel: (endpoint: object) => Redis }
    const asker = (managed as unknown as { connector: Connector }).connector.connectToSentinel({
      host: topo.host,
      port: topo.port,
    })
    asker.on('error', () => undefined)
    expect(asker.status).toBe('wait') // opened by its first command, after the guard is in place
    await asker.connect()
    takesRepeatedErrors(asker)
    asker.disconnect()
    managed.disconnect()
  })
})
