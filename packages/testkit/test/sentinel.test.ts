import { command, redisBinary, type SentinelTopology, startSentinel } from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAlive, killAndAwaitFailover } from './helpers.js'

const bin = redisBinary()

describe.skipIf(!bin.available)(`sentinel (${bin.available ? bin.binary : bin.reason})`, () => {
  let topo: SentinelTopology
  beforeAll(async () => {
    const t0 = Date.now()
    topo = await startSentinel({ password: 'pw', sentinelPassword: 'spw' })
    console.log(`sentinel start (1 master, 2 replicas, 3 sentinels): ${Date.now() - t0} ms`)
  })
  afterAll(async () => {
    await topo?.stop()
  })

  it('reports master, replicas and a sentinel URL', async () => {
    expect(topo.nodes).toHaveLength(3)
    expect(topo.sentinels).toHaveLength(3)
    expect(topo.masterName).toBe('mymaster')
    const hosts = topo.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')
    expect(topo.url).toBe(`redis+sentinel://:pw@${hosts}/mymaster?sentinelPassword=spw`)
    const master = await topo.master()
    expect(master).toBe(topo.nodes[0])
    const replicas = await topo.replicas()
    expect(replicas.map((r) => r.port).sort()).toEqual(
      topo.nodes
        .slice(1)
        .map((n) => n.port)
        .sort(),
    )
    expect(await command(master.host, master.port, ['SET', 'k', 'v'], { password: 'pw' })).toBe('OK')
  })

  it('kill the master: waitForFailover returns another node that is master', async () => {
    const old = await topo.master()
    const next = await killAndAwaitFailover(topo, old, 'sentinel')
    expect(await topo.master()).toBe(next)
    const role = await command(next.host, next.port, ['ROLE'], { password: 'pw' })
    expect((role as string[])[0]).toBe('master')
    // the old master comes back as a replica of the new one
    await topo.restart(old)
    await expect
      .poll(async () => (await topo.replicas()).includes(old), { timeout: 15_000, interval: 200 })
      .toBe(true)
  })

  it('manual failover moves the master while the old one stays up', async () => {
    const old = await topo.master()
    const t0 = Date.now()
    const next = await topo.failover()
    console.log(`sentinel manual failover: ${Date.now() - t0} ms`)
    expect(next).not.toBe(old)
    expect(old.pid).toBeTypeOf('number')
    expect(await topo.master()).toBe(next)
  }, 60_000)

  it('stop() ends every process', async () => {
    const pids = [...topo.nodes, ...topo.sentinels]
      .map((n) => n.pid)
      .filter((p): p is number => p !== undefined)
    await topo.stop()
    await topo.stop()
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
  })
})
