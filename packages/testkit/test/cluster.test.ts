import {
  type ClusterTopology,
  command,
  keySlot,
  RespConnection,
  RespError,
  type RespReply,
  redisBinary,
  startCluster,
} from '@tiercache/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAlive, killAndAwaitFailover } from './helpers.js'

const bin = redisBinary()
const PW = { password: 'cpw' }

/** A key that hashes to `slot` (bounded search). */
function keyFor(slot: number, prefix: string): string {
  for (let i = 0; i < 1_000_000; i++) {
    const key = `${prefix}:${i}`
    if (keySlot(key) === slot) return key
  }
  throw new Error(`no key for slot ${slot}`)
}

const redirects = { MOVED: 0, ASK: 0, TRYAGAIN: 0 }

/** A tiny cluster client for the test: follows MOVED, ASK (with ASKING) and TRYAGAIN. */
async function routed(args: Array<string | number>, port: number): Promise<RespReply> {
  for (let hop = 0; hop < 10; hop++) {
    const conn = await RespConnection.open('127.0.0.1', port, PW)
    try {
      const reply = await conn.send(args)
      if (!(reply instanceof RespError)) return reply
      const redirect = /^(MOVED|ASK) \d+ [\d.]+:(\d+)/.exec(reply.message)
      if (reply.code === 'MOVED' || reply.code === 'ASK' || reply.code === 'TRYAGAIN') redirects[reply.code]++
      if (redirect?.[1] === 'MOVED') port = Number(redirect[2])
      else if (redirect?.[1] === 'ASK') {
        const target = await RespConnection.open('127.0.0.1', Number(redirect[2]), PW)
        try {
          await target.call(['ASKING'])
          return await target.call(args)
        } finally {
          target.close()
        }
      } else if (reply.code === 'TRYAGAIN') await new Promise((r) => setTimeout(r, 10))
      else throw reply
    } finally {
      conn.close()
    }
  }
  throw new Error(`too many redirects for ${args.join(' ')}`)
}

describe.skipIf(!bin.available)(`cluster (${bin.available ? bin.binary : bin.reason})`, () => {
  let topo: ClusterTopology
  beforeAll(async () => {
    const t0 = Date.now()
    topo = await startCluster({ password: 'cpw' })
    console.log(`cluster start (3 masters + 3 replicas): ${Date.now() - t0} ms`)
  })
  afterAll(async () => {
    await topo?.stop()
  })

  it('keySlot matches CLUSTER KEYSLOT', async () => {
    const n = topo.nodes[0]!
    for (const key of ['a', 'user:1', '{user}:1', 'x{}y', 'ünï{cödé}', '{a}{b}']) {
      expect(await command(n.host, n.port, ['CLUSTER', 'KEYSLOT', key], PW)).toBe(keySlot(key))
    }
  })

  it('3 masters cover all 16384 slots; URL lists every node', async () => {
    expect(topo.nodes).toHaveLength(6)
    expect(topo.url).toBe(`redis+cluster://:cpw@${topo.seeds.map((s) => `${s.host}:${s.port}`).join(',')}`)
    const masters = await topo.masters()
    expect(masters).toHaveLength(3)
    const n = topo.nodes[0]!
    const ranges = (await command(n.host, n.port, ['CLUSTER', 'SLOTS'], PW)) as Array<
      [number, number, ...unknown[]]
    >
    expect(ranges.reduce((sum, [a, b]) => sum + b - a + 1, 0)).toBe(16384)
    expect(await topo.masterForSlot(0)).toBe(masters[0])
    expect(await topo.masterForSlot(16383)).toBe(masters[2])
  })

  it('reshard moves slots with their keys', async () => {
    const [a, b] = await topo.masters()
    const first = (await command(a!.host, a!.port, ['CLUSTER', 'SLOTS'], PW)) as Array<
      [number, number, [string, number]]
    >
    const own = first.filter((r) => r[2][1] === a!.port).sort((x, y) => x[0] - y[0])[0]!
    const slots = Array.from({ length: 5 }, (_, i) => own[0] + i)
    const keys = slots.map((s) => keyFor(s, 'rs'))
    for (const key of keys) await command(a!.host, a!.port, ['SET', key, `v-${key}`], PW)
    const t0 = Date.now()
    await topo.reshard({ from: a!, to: b!, slots: 5 })
    console.log(`reshard of 5 slots: ${Date.now() - t0} ms`)
    for (const slot of slots) expect(await topo.masterForSlot(slot)).toBe(b)
    for (const key of keys) {
      expect(await command(b!.host, b!.port, ['GET', key], PW)).toBe(`v-${key}`)
      await expect(command(a!.host, a!.port, ['GET', key], PW)).rejects.toThrow(/MOVED/)
    }
  })

  it('reshard works while a client keeps writing and reading the moving slots', async () => {
    const [a, b] = await topo.masters()
    const slots = (await command(a!.host, a!.port, ['CLUSTER', 'SLOTS'], PW)) as Array<
      [number, number, [string, number]]
    >
    const start = slots.filter((r) => r[2][1] === a!.port).sort((x, y) => x[0] - y[0])[0]![0]
    const keys = Array.from({ length: 20 }, (_, i) => keyFor(start + i, 'load'))
    for (const key of keys) await routed(['SET', key, 'init'], a!.port)
    let done = false
    let ops = 0
    const errors: unknown[] = []
    const load = (async () => {
      // bounded: stops when the reshard is done or after 3000 round trips
      for (let i = 0; !done && i < 1_500; i++) {
        const key = keys[i % keys.length]!
        try {
          await routed(['SET', key, `v${i}`], a!.port)
          const got = await routed(['GET', key], a!.port)
          if (got !== `v${i}`) errors.push(`${key}: ${String(got)} != v${i}`)
          ops++
        } catch (error) {
          errors.push(error)
        }
      }
    })()
    await topo.reshard({ from: a!, to: b!, slots: 20 })
    done = true
    await load
    console.log(
      `reshard of 20 slots under load: ${ops} SET+GET pairs, ${errors.length} errors, redirects ${JSON.stringify(redirects)}`,
    )
    expect(errors).toEqual([])
    expect(ops).toBeGreaterThan(0)
    for (const key of keys) expect(await command(b!.host, b!.port, ['EXISTS', key], PW)).toBe(1)
  })

  it('kill a master: waitForFailover returns its replica, which owns its slots', async () => {
    const masters = await topo.masters()
    const victim = masters[2]!
    const next = await killAndAwaitFailover(topo, victim, 'cluster')
    expect(await topo.masterForSlot(16383)).toBe(next)
    expect(await topo.masters()).toHaveLength(3)
    // the old master rejoins as a replica
    await topo.restart(victim)
    await expect
      .poll(async () => ((await command(victim.host, victim.port, ['ROLE'], PW)) as string[])[0], {
        timeout: 15_000,
      })
      .toBe('slave')
  })

  it('stop() ends every process', async () => {
    const pids = topo.nodes.map((n) => n.pid).filter((p): p is number => p !== undefined)
    await topo.stop()
    for (const pid of pids) expect(isAlive(pid)).toBe(false)
  })
})
