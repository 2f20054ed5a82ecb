import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { cliBinary, requireBinary } from './binary.js'
import { type AclUser, startDataNode } from './data-node.js'
import { type ManagedNode, type NodeControl, type RedisNode, registry, waitUntil } from './process.js'
import { parseInfo, RespConnection } from './resp-client.js'
import { generateTlsMaterial, requireTls, type TlsMaterial } from './tls.js'
import { asManaged, stopper } from './topology.js'

const run = promisify(execFile)
const SLOTS = 16384

export interface ClusterOptions {
  masters?: number
  replicasPerMaster?: number
  /** cluster-node-timeout (default 1000) */
  nodeTimeoutMs?: number
  /** requirepass + masterauth on every node */
  password?: string
  /** Extra ACL users on every node (in the config, so they survive `restart`); the testkit keeps using `password`. */
  users?: AclUser[]
  /**
   * Every node serves TLS only and replicates and gossips over TLS (`tls-replication`, `tls-cluster`), with
   * a throwaway CA (returned as `ca`); the bus port is the TLS port + 10000. See `tlsAvailable()`.
   */
  tls?: boolean
  binary?: string
  /** how long startup may take before it fails (default 60 s) */
  startTimeoutMs?: number
}

export interface ClusterTopology extends NodeControl {
  /** redis+cluster://[:password@]127.0.0.1:p1,127.0.0.1:p2,… (every node as a seed); rediss+cluster:// with `tls` */
  url: string
  /** With `tls`: the CA certificate (PEM) that signed every node's certificate, for `tls: { ca }`. */
  ca?: string
  nodes: RedisNode[]
  seeds: Array<{ host: string; port: number }>
  /** Masters (not failed) in CLUSTER NODES of a live node, ordered by their first slot. */
  masters(): Promise<RedisNode[]>
  masterForSlot(slot: number): Promise<RedisNode>
  /** Resolves once one replica owns all slots `from` had, in the view of every live node, and cluster_state is ok everywhere. */
  waitForFailover(opts: { from: RedisNode; timeoutMs?: number }): Promise<RedisNode>
  /**
   * Live migration of the lowest-numbered `slots` slots of `from` to `to`, keys included
   * (SETSLOT IMPORTING/MIGRATING, MIGRATE … KEYS, SETSLOT NODE); clients may run meanwhile (ASK/MOVED).
   */
  reshard(opts: { from: RedisNode; to: RedisNode; slots: number }): Promise<void>
}

interface ViewEntry {
  id: string
  port: number
  flags: string[]
  masterId: string | undefined
  slots: number[]
}

/** CLUSTER NODES text → entries; slots being migrated/imported (`[…]`) are not ownership and skipped. */
function parseNodes(text: string): ViewEntry[] {
  const out: ViewEntry[] = []
  for (const line of text.trim().split('\n')) {
    const [id, addr, flags, master, , , , , ...ranges] = line.trim().split(' ')
    if (!id || !addr || !flags) continue
    const port = Number(/:(\d+)@/.exec(addr)?.[1] ?? /:(\d+)/.exec(addr)?.[1])
    const slots: number[] = []
    for (const range of ranges) {
      if (range.startsWith('[')) continue
      const [a, b] = range.split('-').map(Number)
      for (let s = a!; s <= (b ?? a!); s++) slots.push(s)
    }
    out.push({ id, port, flags: flags.split(','), masterId: master === '-' ? undefined : master, slots })
  }
  return out
}

const isMaster = (e: ViewEntry) => e.flags.includes('master') && !e.flags.includes('fail')

export async function startCluster(opts: ClusterOptions = {}): Promise<ClusterTopology> {
  const binary = requireBinary(opts.binary)
  const cli = cliBinary(binary)
  const masterCount = opts.masters ?? 3
  const perMaster = opts.replicasPerMaster ?? 1
  const total = masterCount * (1 + perMaster)
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000
  if (opts.tls) requireTls(opts.binary)
  const dir = registry.makeDir('cluster')
  const nodes: ManagedNode[] = []
  const stop = stopper(() => nodes, dir)
  let tls: TlsMaterial | undefined
  try {
    tls = opts.tls ? generateTlsMaterial(dir) : undefined
  } catch (error) {
    await stop()
    throw error
  }
  const auth = { password: opts.password, ...(tls ? { tls: { ca: tls.ca } } : {}) }

  const view = async (node: ManagedNode) =>
    parseNodes(String(await node.command(['CLUSTER', 'NODES'], 1_000)))
  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port)
    if (!node) throw new Error(`@tiercache/testkit: port ${port} is not a node of this cluster`)
    return node
  }
  /** The first live node's view; nodes that do not answer are skipped. */
  const liveView = async (exclude?: RedisNode) => {
    let lastError: unknown
    for (const node of nodes) {
      if (!node.responsive || node.port === exclude?.port) continue
      try {
        return await view(node)
      } catch (error) {
        lastError = error
      }
    }
    throw new Error('@tiercache/testkit: no live cluster node answered CLUSTER NODES', { cause: lastError })
  }
  // Slot owners as last seen, so waitForFailover knows `from`'s slots even after the takeover happened.
  const owners = new Int32Array(SLOTS)
  const remember = (entries: ViewEntry[]) => {
    for (const e of entries) if (isMaster(e)) for (const s of e.slots) owners[s] = e.port
  }

  try {
    nodes.push(
      ...(await Promise.all(
        Array.from({ length: total }, () =>
          startDataNode({
            dir,
            binary,
            tls,
            password: opts.password,
            users: opts.users,
            masterauth: true,
            busOffset: 10_000,
            extraLines: [
              ...(tls ? ['tls-cluster yes'] : []),
              'cluster-enabled yes',
              'cluster-config-file nodes.conf',
              `cluster-node-timeout ${opts.nodeTimeoutMs ?? 1_000}`,
              // any replica may take over, however long its link was down: failovers in tests must not stall
              'cluster-replica-validity-factor 0',
              // a failed master's slots fail alone; every other slot keeps serving reads and writes
              'cluster-require-full-coverage no',
              'cluster-allow-reads-when-down no',
            ],
          }),
        ),
      )),
    )

    const args = ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`)]
    args.push('--cluster-replicas', String(perMaster), '--cluster-yes')
    if (opts.password !== undefined) args.push('-a', opts.password, '--no-auth-warning')
    if (tls) args.push('--tls', '--cacert', tls.caFile)
    await run(cli, args, { timeout: startTimeoutMs }).catch(
      (error: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(
          `@tiercache/testkit: redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ''}`,
        )
      },
    )

    await Promise.all(
      nodes.map((node) =>
        waitUntil(
          async () => {
            const info = parseInfo(String(await node.command(['CLUSTER', 'INFO'], 1_000)))
            if (info.cluster_state !== 'ok' || Number(info.cluster_known_nodes) !== total) return false
            const entries = await view(node)
            if (
              entries.some((e) =>
                e.flags.some((f) => f === 'handshake' || f.startsWith('fail') || f === 'noaddr'),
              )
            )
              return false
            const masters = entries.filter((e) => e.flags.includes('master') && e.slots.length > 0)
            const replicas = entries.filter((e) => e.flags.includes('slave') && e.masterId)
            if (masters.length !== masterCount || replicas.length !== masterCount * perMaster) return false
            if (masters.reduce((sum, m) => sum + m.slots.length, 0) !== SLOTS) return false
            if (entries.find((e) => e.flags.includes('myself'))?.flags.includes('slave')) {
              const repl = parseInfo(String(await node.command(['INFO', 'replication'], 1_000)))
              if (repl.master_link_status !== 'up') return false
            }
            return true
          },
          {
            timeoutMs: startTimeoutMs,
            what: `${node.id} to report cluster_state:ok with all replicas attached`,
          },
        ),
      ),
    )
    remember(await view(nodes[0]!))
  } catch (error) {
    await stop()
    throw error
  }

  const masters = async () => {
    const entries = await liveView()
    remember(entries)
    return entries
      .filter(isMaster)
      .sort((a, b) => (a.slots[0] ?? SLOTS) - (b.slots[0] ?? SLOTS))
      .map((e) => byPort(e.port))
  }

  const masterForSlot = async (slot: number) => {
    const entries = await liveView()
    remember(entries)
    const owner = entries.find((e) => isMaster(e) && e.slots.includes(slot))
    if (!owner) throw new Error(`@tiercache/testkit: no live master owns slot ${slot}`)
    return byPort(owner.port)
  }

  const waitForFailover = async ({ from, timeoutMs = 30_000 }: { from: RedisNode; timeoutMs?: number }) => {
    const current = await liveView(from).catch(() => [])
    let slots = current.find((e) => e.port === from.port && isMaster(e))?.slots ?? []
    if (slots.length === 0) slots = [...owners.keys()].filter((s) => owners[s] === from.port)
    if (slots.length === 0)
      throw new Error(`@tiercache/testkit: ${from.id} owned no slots, nothing to fail over`)
    const next = await waitUntil<RedisNode>(
      async () => {
        let agreed: number | undefined
        for (const node of nodes) {
          if (!node.responsive || node.port === from.port) continue
          const info = parseInfo(String(await node.command(['CLUSTER', 'INFO'], 1_000)))
          if (info.cluster_state !== 'ok') return undefined
          const entries = await view(node)
          const owner = entries.find((e) => isMaster(e) && e.slots.includes(slots[0]!))
          if (!owner || owner.port === from.port || (agreed !== undefined && owner.port !== agreed))
            return undefined
          const owned = new Set(owner.slots)
          if (!slots.every((s) => owned.has(s))) return undefined
          agreed = owner.port
        }
        if (agreed === undefined) return undefined
        const candidate = byPort(agreed)
        const role = await candidate.command(['ROLE'], 1_000)
        return Array.isArray(role) && role[0] === 'master' ? candidate : undefined
      },
      { timeoutMs, what: `a replica to take over the slots of ${from.id}` },
    )
    for (const s of slots) owners[s] = next.port
    return next
  }

  const reshard = async ({ from, to, slots: count }: { from: RedisNode; to: RedisNode; slots: number }) => {
    const source = asManaged(from, nodes)
    const target = asManaged(to, nodes)
    const entries = await view(source)
    const src = entries.find((e) => e.port === source.port)
    const dst = entries.find((e) => e.port === target.port)
    if (!src || !dst || !isMaster(src) || !isMaster(dst)) {
      throw new Error(`@tiercache/testkit: reshard needs two masters (${from.id} → ${to.id})`)
    }
    const moving = src.slots.slice(0, count)
    if (moving.length < count)
      throw new Error(`@tiercache/testkit: ${from.id} owns only ${src.slots.length} slots`)
    const others = nodes.filter((n) => n !== source && n !== target && n.responsive)
    const [a, b] = await Promise.all([
      RespConnection.open(source.host, source.port, { ...auth, timeoutMs: 10_000 }),
      RespConnection.open(target.host, target.port, { ...auth, timeoutMs: 10_000 }),
    ])
    const migrateAuth = opts.password !== undefined ? ['AUTH', opts.password] : []
    try {
      for (const slot of moving) {
        await b.call(['CLUSTER', 'SETSLOT', slot, 'IMPORTING', src.id])
        await a.call(['CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst.id])
        for (;;) {
          const keys = (await a.call(['CLUSTER', 'GETKEYSINSLOT', slot, 100])) as string[]
          if (keys.length === 0) break
          await a.call([
            'MIGRATE',
            target.host,
            target.port,
            '',
            0,
            5_000,
            'REPLACE',
            ...migrateAuth,
            'KEYS',
            ...keys,
          ])
        }
        // Target first: once it owns the slot, the source's MOVED replies point clients to the right node.
        await b.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id])
        await a.call(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id])
        // The rest learn it by gossip anyway; telling them makes the change visible at once.
        await Promise.all(
          others.map((n) =>
            n.command(['CLUSTER', 'SETSLOT', slot, 'NODE', dst.id], 1_000).catch(() => undefined),
          ),
        )
      }
    } finally {
      a.close()
      b.close()
    }
    await waitUntil(
      async () => {
        for (const node of nodes) {
          if (!node.responsive) continue
          const owner = (await view(node)).find(
            (e) => isMaster(e) && e.slots.includes(moving[moving.length - 1]!),
          )
          if (owner?.port !== target.port) return false
        }
        return true
      },
      { timeoutMs: 15_000, what: `every node to see the resharded slots on ${to.id}` },
    )
    for (const s of moving) owners[s] = target.port
  }

  const seeds = nodes.map((n) => ({ host: n.host, port: n.port }))
  return {
    ...(tls ? { ca: tls.ca } : {}),
    url:
      `${tls ? 'rediss' : 'redis'}+cluster://${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : ''}` +
      seeds.map((s) => `${s.host}:${s.port}`).join(','),
    nodes,
    seeds,
    masters,
    masterForSlot,
    waitForFailover,
    reshard,
    kill: (n) => asManaged(n, nodes).kill(),
    pause: (n) => asManaged(n, nodes).pause(),
    resume: (n) => asManaged(n, nodes).resume(),
    restart: (n) => asManaged(n, nodes).restart(),
    stop,
  }
}
