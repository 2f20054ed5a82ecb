import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { freePort } from './ports.js'
import type { RedisNode } from './process.js'
import type { StandaloneOptions, StandaloneTopology } from './standalone.js'
import { redisUrl } from './topology.js'

const run = promisify(execFile)

type Testcontainers = typeof import('testcontainers')

export interface DockerStatus {
  available: boolean
  reason?: string
}

let status: Promise<DockerStatus> | undefined

/** testcontainers is an optional peer: a missing package means "no container engine", not an error. */
async function loadTestcontainers(): Promise<Testcontainers | undefined> {
  try {
    return await import('testcontainers')
  } catch {
    return undefined
  }
}

function timeout(ms: number): Promise<DockerStatus> {
  return new Promise((resolve) => {
    setTimeout(
      () => resolve({ available: false, reason: `no answer from a container runtime within ${ms} ms` }),
      ms,
    ).unref()
  })
}

/**
 * Whether testcontainers finds a working container runtime. Answers within ~3 s, never throws; the
 * result is cached for the process.
 */
export function dockerAvailable(opts: { timeoutMs?: number } = {}): Promise<DockerStatus> {
  status ??= Promise.race([probe(), timeout(opts.timeoutMs ?? 3_000)])
  return status
}

async function probe(): Promise<DockerStatus> {
  try {
    const tc = await loadTestcontainers()
    if (!tc)
      return { available: false, reason: 'the optional peer dependency `testcontainers` is not installed' }
    await tc.getContainerRuntimeClient()
    return { available: true }
  } catch (error) {
    return { available: false, reason: `testcontainers: ${(error as Error).message}` }
  }
}

/**
 * Standalone Redis in a container (image `redis:7` by default), published on a fixed free loopback port
 * so `restart` keeps the address. kill/pause/resume use the `docker` CLI. Sentinel and Cluster are
 * binary-only: their nodes announce addresses that must be reachable from the host.
 */
export async function startStandaloneContainer(opts: StandaloneOptions): Promise<StandaloneTopology> {
  const tc = await loadTestcontainers()
  const docker = await dockerAvailable()
  if (!tc || !docker.available) throw new Error(`@tiercache/testkit: no container engine (${docker.reason})`)
  const hostPort = await freePort()
  const command = ['redis-server', '--save', '', '--appendonly', 'no']
  if (opts.password !== undefined) command.push('--requirepass', opts.password)
  for (const user of opts.users ?? [])
    command.push('--user', `${user.name} on >${user.password} ${user.rules}`)
  command.push(...(opts.args ?? []))
  const container = await new tc.GenericContainer(opts.image ?? 'redis:7')
    .withCommand(command)
    .withExposedPorts({ container: 6379, host: hostPort })
    .withWaitStrategy(tc.Wait.forLogMessage('Ready to accept connections'))
    .start()
  const state = { running: true, paused: false }
  const node: RedisNode = {
    id: `redis:${hostPort}`,
    host: '127.0.0.1',
    port: hostPort,
    pid: undefined,
    kind: 'redis',
    dir: '',
    get running() {
      return state.running
    },
    get paused() {
      return state.paused
    },
  }
  const id = container.getId()
  let stopped: Promise<void> | undefined
  return {
    url: redisUrl(node, opts.password),
    host: node.host,
    port: node.port,
    node,
    kill: async () => {
      await run('docker', ['kill', id], { timeout: 10_000 })
      state.running = false
      state.paused = false
    },
    pause: () => {
      execFileSync('docker', ['pause', id], { timeout: 10_000, stdio: 'ignore' })
      state.paused = true
    },
    resume: () => {
      execFileSync('docker', ['unpause', id], { timeout: 10_000, stdio: 'ignore' })
      state.paused = false
    },
    restart: async () => {
      await container.restart()
      state.running = true
      state.paused = false
    },
    stop: () => {
      stopped ??= container.stop({ timeout: 0 }).then(() => undefined)
      return stopped
    },
  }
}
