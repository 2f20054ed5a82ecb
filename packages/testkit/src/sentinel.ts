import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { requireBinary } from './binary.js'
import { q, tlsConfigLines, writeConfig } from './config.js'
import { type AclUser, startDataNode } from './data-node.js'
import { freePort } from './ports.js'
import {
  ManagedNode,
  type NodeControl,
  type RedisNode,
  registry,
  sleep,
  startWithPortRetry,
  waitUntil,
} from './process.js'
import { pairs, parseInfo, type RespReply } from './resp-client.js'
import { generateTlsMaterial, requireTls } from './tls.js'
import { asManaged, stopper } from './topology.js'

export interface SentinelOptions {
  /** data nodes besides the master (default 2) */
  replicas?: number
  /** sentinel processes (default 3); quorum is a majority */
  sentinels?: number
  masterName?: string
  /** sentinel down-after-milliseconds (default 1000) */
  downAfterMs?: number
  /** sentinel failover-timeout (default 3000) */
  failoverTimeoutMs?: number
  /** requirepass + masterauth on the data nodes */
  password?: string
  /** requirepass on the sentinels themselves */
  sentinelPassword?: string
  /**
   * Extra ACL users on the data nodes (in each node's config, so they survive restarts and failovers).
   * Replication and the sentinels keep using `password` (the default user).
   */
  users?: AclUser[]
  /**
   * Data nodes and sentinels serve TLS only, and replicate / monitor over TLS (`tls-replication yes`), with
   * a throwaway CA (returned as `ca`) and one server certificate for 127.0.0.1/localhost. See `tlsAvailable()`.
   */
  tls?: boolean
  binary?: string
  /** how long startup may take before it fails (default 30 s) */
  startTimeoutMs?: number
}

export interface SentinelTopology extends NodeControl {
  /**
   * redis+sentinel://[:password@]127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/mymaster[?sentinelPassword=…];
   * rediss+sentinel://… with `tls` (TLS to the sentinels and to the data nodes)
   */
  url: string
  /** With `tls`: the CA certificate (PEM) that signed every node's certificate, for `tls: { ca }`. */
  ca?: string
  masterName: string
  sentinels: RedisNode[]
  /** data nodes; the first one is the initial master */
  nodes: RedisNode[]
  /** The master according to a live sentinel (SENTINEL get-master-addr-by-name). */
  master(): Promise<RedisNode>
  /** Live data nodes that answer ROLE = slave. */
  replicas(): Promise<RedisNode[]>
  /** Resolves with the new master once every live sentinel names the same node other than `from` and it answers ROLE = master. */
  waitForFailover(opts: { from: RedisNode; timeoutMs?: number }): Promise<RedisNode>
  /** SENTINEL FAILOVER (the old master stays up and becomes a replica); resolves with the new master. */
  failover(): Promise<RedisNode>
}

export async function startSentinel(opts: SentinelOptions = {}): Promise<SentinelTopology> {
  const binary = requireBinary(opts.binary)
  if (opts.tls) requireTls(opts.binary)
  const replicaCount = opts.replicas ?? 2
  const sentinelCount = opts.sentinels ?? 3
  const name = opts.masterName ?? 'mymaster'
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000
  const dir = registry.makeDir('sentinel')
  const nodes: ManagedNode[] = []
  const sentinels: ManagedNode[] = []
  const stop = stopper(() => [...sentinels, ...nodes], dir)
  let tls: ReturnType<typeof generateTlsMaterial> | undefined
  try {
    tls = opts.tls ? generateTlsMaterial(dir) : undefined
  } catch (error) {
    await stop()
    throw error
  }
  const tlsAuth = tls ? { tls: { ca: tls.ca } } : {}

  const dataNode = (replicaOf: number | undefined) =>
    startDataNode({
      dir,
      dirPrefix: 'redis-',
      binary,
      tls,
      password: opts.password,
      masterauth: true,
      users: opts.users,
      replicaOf,
    })

  try {
    const master = await dataNode(undefined)
    nodes.push(master)
    nodes.push(...(await Promise.all(Array.from({ length: replicaCount }, () => dataNode(master.port)))))
    // Replicas attached before the sentinels start, so the sentinels' first INFO already lists them.
    await Promise.all(
      nodes
        .slice(1)
        .map((replica) =>
          waitUntil(
            async () =>
              parseInfo(String(await replica.command(['INFO', 'replication']))).master_link_status === 'up',
            { timeoutMs: startTimeoutMs, what: `${replica.id} to sync with its master` },
          ),
        ),
    )

    const quorum = Math.floor(sentinelCount / 2) + 1
    sentinels.push(
      ...(await Promise.all(
        Array.from({ length: sentinelCount }, () =>
          startWithPortRetry(async () => {
            const port = await freePort()
            const nodeDir = join(dir, `sentinel-${port}`)
            mkdirSync(nodeDir, { recursive: true })
            const lines = [
              // with TLS, sentinels also reach the data nodes and each other over TLS (tls-replication)
              ...(tls ? tlsConfigLines(tls, port) : [`port ${port}`]),
              'bind 127.0.0.1',
              `dir ${q(nodeDir)}`,
              `logfile ${q(join(nodeDir, 'sentinel.log'))}`,
              'daemonize no',
              `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
              `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1_000}`,
              `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3_000}`,
              `sentinel parallel-syncs ${name} 1`,
            ]
            if (opts.password !== undefined) lines.push(`sentinel auth-pass ${name} ${q(opts.password)}`)
            if (opts.sentinelPassword !== undefined) {
              // sentinel-pass: the sentinels authenticate to each other with the same password
              lines.push(
                `requirepass ${q(opts.sentinelPassword)}`,
                `sentinel sentinel-pass ${q(opts.sentinelPassword)}`,
              )
            }
            // Sentinel rewrites this file (known replicas, epochs), so a restart resumes where it was.
            const configFile = writeConfig(nodeDir, 'sentinel.conf', lines)
            const auth = { password: opts.sentinelPassword, ...tlsAuth }
            const spec = {
              kind: 'sentinel' as const,
              host: '127.0.0.1',
              port,
              dir: nodeDir,
              binary,
              configFile,
            }
            return new ManagedNode({ ...spec, args: ['--sentinel'], auth })
          }),
        ),
      )),
    )

    await Promise.all(
      sentinels.map((sentinel) =>
        waitUntil(
          async () => {
            const m = pairs(await sentinel.command(['SENTINEL', 'MASTER', name]))
            return (
              m.flags === 'master' &&
              Number(m.port) === master.port &&
              Number(m['num-other-sentinels']) === sentinelCount - 1 &&
              Number(m['num-slaves']) === replicaCount
            )
          },
          {
            timeoutMs: startTimeoutMs,
            what: `${sentinel.id} to see the master, its replicas and the other sentinels`,
          },
        ),
      ),
    )
  } catch (error) {
    await stop()
    throw error
  }

  const all = () => [...nodes, ...sentinels]
  const byAddress = (host: string, port: number) => {
    const node = nodes.find((n) => n.port === port && (host === n.host || host === 'localhost'))
    if (!node)
      throw new Error(
        `@tiercache/testkit: sentinels name ${host}:${port}, which is not a node of this topology`,
      )
    return node
  }
  const askSentinel = async (sentinel: ManagedNode): Promise<ManagedNode | undefined> => {
    const reply: RespReply = await sentinel.command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], 1_000)
    if (!Array.isArray(reply) || reply.length < 2) return undefined
    return byAddress(String(reply[0]), Number(reply[1]))
  }
  const isMaster = async (node: ManagedNode) => {
    if (!node.responsive) return false
    const role = await node.command(['ROLE'], 1_000).catch(() => undefined)
    return Array.isArray(role) && role[0] === 'master'
  }

  const master = async (): Promise<RedisNode> => {
    let lastError: unknown
    for (const sentinel of sentinels.filter((s) => s.responsive)) {
      try {
        const node = await askSentinel(sentinel)
        if (node) return node
      } catch (error) {
        lastError = error
      }
    }
    throw new Error(`@tiercache/testkit: no live sentinel named a master for ${name}`, { cause: lastError })
  }

  const waitForFailover = ({ from, timeoutMs = 30_000 }: { from: RedisNode; timeoutMs?: number }) =>
    waitUntil<RedisNode>(
      async () => {
        const live = sentinels.filter((s) => s.responsive)
        if (live.length === 0) return undefined
        const answers = await Promise.all(live.map((s) => askSentinel(s).catch(() => undefined)))
        const first = answers[0]
        if (!first || first.port === from.port || answers.some((a) => a !== first)) return undefined
        return (await isMaster(first)) ? first : undefined
      },
      { timeoutMs, what: `the sentinels to fail ${name} over from ${from.id}` },
    )

  const failoverTimeoutMs = opts.failoverTimeoutMs ?? 3_000
  const failover = async (): Promise<RedisNode> => {
    const from = await master()
    const deadline = Date.now() + 40_000
    for (;;) {
      // NOGOODSLAVE / INPROG right after startup or a previous failover: the sentinel's view is settling.
      await waitUntil(
        async () => {
          for (const sentinel of sentinels.filter((s) => s.responsive)) {
            const reply = await sentinel
              .command(['SENTINEL', 'FAILOVER', name])
              .catch((error: Error) => error)
            if (reply === 'OK') return true
          }
          await sleep(200)
          return false
        },
        {
          timeoutMs: Math.max(1_000, deadline - Date.now()),
          what: `SENTINEL FAILOVER ${name} to be accepted`,
        },
      )
      // An accepted manual failover can still abort (e.g. the chosen replica was resyncing): after its
      // failover-timeout the sentinel gives up, and asking again is what an operator would do.
      try {
        return await waitForFailover({
          from,
          timeoutMs: Math.min(failoverTimeoutMs * 3, deadline - Date.now()),
        })
      } catch (error) {
        if (Date.now() >= deadline) throw error
      }
    }
  }

  const url =
    `${tls ? 'rediss' : 'redis'}+sentinel://${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : ''}` +
    sentinels.map((s) => `${s.host}:${s.port}`).join(',') +
    `/${name}` +
    (opts.sentinelPassword !== undefined
      ? `?sentinelPassword=${encodeURIComponent(opts.sentinelPassword)}`
      : '')

  return {
    url,
    ...(tls ? { ca: tls.ca } : {}),
    masterName: name,
    sentinels,
    nodes,
    master,
    replicas: async () => {
      const roles = await Promise.all(
        nodes.map(async (n) => {
          if (!n.responsive) return false
          const role = await n.command(['ROLE'], 1_000).catch(() => undefined)
          return Array.isArray(role) && role[0] === 'slave'
        }),
      )
      return nodes.filter((_, i) => roles[i])
    },
    waitForFailover,
    failover,
    kill: (n) => asManaged(n, all()).kill(),
    pause: (n) => asManaged(n, all()).pause(),
    resume: (n) => asManaged(n, all()).resume(),
    restart: (n) => asManaged(n, all()).restart(),
    stop,
  }
}
