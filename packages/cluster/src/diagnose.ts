import { TierCacheError } from '@tiercache/core'
import { classifyRedisError, guardStreams, toFatalError } from '@tiercache/redis'
import { Redis } from 'ioredis'
import type { ClusterNodeAddress, ResolvedClusterOptions } from './options.js'

/** What one seed node said to `CLUSTER INFO`. */
interface SeedAnswer {
  readonly node: string
  readonly info?: string
  readonly error?: unknown
}

/**
 * Finds out why the client has no usable topology and says so in a `TierCacheError` — instead of ioredis's
 * "ClusterAllFailedError: Failed to refresh slots cache", which hides four different causes:
 * - no seed answers → STORE_UNAVAILABLE "no seed node answered (tried h1:p1 (ECONNREFUSED), …)";
 * - a seed rejects the credentials → AUTH_FAILED (fatal: retrying cannot fix it);
 * - the cluster answers but does not serve (cluster_state:fail, slots unassigned, not a cluster node) →
 *   CLUSTER_NOT_READY;
 * - the cluster is fine from here but the client still fails → STORE_UNAVAILABLE naming the client's last
 *   error (typically nodes announcing addresses this host cannot reach: see `natMap`).
 * Each seed gets one short-lived connection bounded by `connectTimeoutMs`/`commandTimeoutMs`.
 */
export async function diagnoseCluster(
  options: ResolvedClusterOptions,
  lastClientError?: unknown,
): Promise<TierCacheError> {
  const answers = await Promise.all(options.nodes.map((node) => askSeed(node, options)))
  for (const answer of answers) {
    const fatal =
      answer.error === undefined ? undefined : toFatalError(answer.error, `cluster node ${answer.node}`)
    if (fatal) return fatal
  }
  for (const answer of answers) {
    const message = String((answer.error as Error | undefined)?.message ?? '')
    if (/cluster support disabled/i.test(message)) {
      return new TierCacheError(
        'CLUSTER_NOT_READY',
        `${answer.node} is not a cluster node (cluster support disabled); use redis:// for a standalone server`,
        { cause: answer.error },
      )
    }
  }
  const answered = answers.filter((answer) => answer.info !== undefined)
  if (answered.length === 0) {
    const tried = answers.map((answer) => `${answer.node} (${reason(answer.error)})`).join(', ')
    return new TierCacheError('STORE_UNAVAILABLE', `no seed node answered (tried ${tried})`, {
      cause: answers[0]?.error,
    })
  }
  const notServing = answered
    .map((answer) => ({ node: answer.node, state: parseClusterInfo(answer.info!) }))
    .filter(({ state }) => state.state !== 'ok' || state.slotsAssigned < 16384)
  if (notServing.length === answered.length) {
    const { node, state } = notServing[0]!
    return new TierCacheError(
      'CLUSTER_NOT_READY',
      `the cluster is not serving: cluster_state:${state.state}, ${state.slotsAssigned}/16384 slots assigned, ` +
        `${state.slotsFail} failing, ${state.knownNodes} known nodes (seen from ${node})`,
    )
  }
  const last = lastClientError === undefined ? 'no topology yet' : reason(lastClientError)
  return new TierCacheError(
    'STORE_UNAVAILABLE',
    `seed nodes answer (${answered.map((a) => a.node).join(', ')}) and report cluster_state:ok, but the client ` +
      `could not load a usable topology (${last}); if the nodes announce addresses this host cannot reach, ` +
      `set natMap`,
    { cause: lastClientError },
  )
}

async function askSeed(node: ClusterNodeAddress, options: ResolvedClusterOptions): Promise<SeedAnswer> {
  const name = `${node.host}:${node.port}`
  const client = guardStreams(
    new Redis({
      host: node.host,
      port: node.port,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      connectTimeout: options.connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs,
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectionName: 'tiercache-diagnose',
    }),
  )
  let connectError: unknown
  client.on('error', (error) => {
    connectError ??= error
  })
  try {
    await client.connect()
    const info = String(await client.call('CLUSTER', 'INFO'))
    return { node: name, info }
  } catch (error) {
    // ioredis reports an AUTH rejection as an 'error' event and the command as a closed connection.
    const fatal = [connectError, error].find((e) => e !== undefined && classifyRedisError(e) === 'fatal')
    return { node: name, error: fatal ?? (isDisabled(error) ? error : (connectError ?? error)) }
  } finally {
    client.disconnect()
  }
}

function isDisabled(error: unknown): boolean {
  return /cluster support disabled/i.test(String((error as Error | undefined)?.message ?? ''))
}

/** The fields of CLUSTER INFO the diagnosis uses. */
export function parseClusterInfo(info: string): {
  state: string
  slotsAssigned: number
  slotsFail: number
  knownNodes: number
} {
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1]
  return {
    state: field('cluster_state') ?? 'unknown',
    slotsAssigned: Number(field('cluster_slots_assigned') ?? 0),
    slotsFail: Number(field('cluster_slots_fail') ?? 0) + Number(field('cluster_slots_pfail') ?? 0),
    knownNodes: Number(field('cluster_known_nodes') ?? 0),
  }
}

/** A short reason for an error: its errno code when it has one, else its message. */
export function reason(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && code !== '') return code
  return typeof message === 'string' && message !== '' ? message : String(error)
}
