import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { memoByKey } from './memo.js'

export interface RedisBinaryInfo {
  available: boolean
  binary?: string
  /** e.g. '7.0.15' */
  version?: string
  /** 'redis' or 'valkey' (from `--version`) */
  flavor?: 'redis' | 'valkey'
  reason?: string
}

const INSTALL_HINT =
  'install it (Debian/Ubuntu: `apt-get install redis-server` or `apt-get install valkey-server`; ' +
  'macOS: `brew install redis`), or point TIERCACHE_REDIS_SERVER at a redis-server/valkey-server binary'

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Looks a command up on PATH like a shell would; absolute/relative paths are taken as they are. */
export function which(command: string): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? command : undefined
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const candidate = join(dir, command)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

const remembered = memoByKey<RedisBinaryInfo>()

/**
 * Finds the server binary: `binary` argument, then `TIERCACHE_REDIS_SERVER`, then `redis-server`, then
 * `valkey-server` on PATH. Synchronous so it can drive `describe.skipIf(...)`.
 */
export function redisBinary(binary?: string): RedisBinaryInfo {
  const requested = binary ?? process.env.TIERCACHE_REDIS_SERVER
  return remembered(requested ?? '', () => probe(requested))
}

function probe(requested: string | undefined): RedisBinaryInfo {
  const candidates = requested ? [requested] : ['redis-server', 'valkey-server']
  for (const candidate of candidates) {
    const file = which(candidate)
    if (!file) continue
    try {
      const out = execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 5_000 })
      const version = /v=(\d+\.\d+\.\d+)/.exec(out)?.[1]
      const flavor = /valkey/i.test(out) ? 'valkey' : 'redis'
      return { available: true, binary: file, ...(version ? { version } : {}), flavor }
    } catch (error) {
      return {
        available: false,
        reason: `${file} --version failed (${(error as Error).message}); ${INSTALL_HINT}`,
      }
    }
  }
  const what = requested
    ? `${requested} not found or not executable`
    : 'neither redis-server nor valkey-server is on PATH'
  return { available: false, reason: `${what}; ${INSTALL_HINT}` }
}

/** The server binary or a clear error saying how to get one. */
export function requireBinary(binary?: string): string {
  const info = redisBinary(binary)
  if (!info.available || !info.binary) throw new Error(`@tiercache/testkit: ${info.reason}`)
  return info.binary
}

/** redis-cli / valkey-cli: next to the server binary first, then PATH. Needed for `--cluster create`. */
export function cliBinary(server: string): string {
  const names = ['redis-cli', 'valkey-cli']
  for (const name of names) {
    const sibling = join(dirname(server), name)
    if (isExecutable(sibling)) return sibling
  }
  for (const name of names) {
    const found = which(name)
    if (found) return found
  }
  throw new Error(
    `@tiercache/testkit: redis-cli/valkey-cli not found next to ${server} or on PATH; ${INSTALL_HINT}`,
  )
}
