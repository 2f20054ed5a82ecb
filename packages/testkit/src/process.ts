import { type ChildProcess, spawn } from 'node:child_process'
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { command, RespError, type RespOptions } from './resp-client.js'

export interface RedisNode {
  readonly id: string
  readonly host: string
  readonly port: number
  /** The current process id; changes on `restart`, `undefined` while the node is down (or in a container). */
  readonly pid: number | undefined
  readonly kind: 'redis' | 'sentinel'
  readonly dir: string
  /** The process exists (it was not killed, or was restarted). */
  readonly running: boolean
  /** Stopped with SIGSTOP by `pause` and not resumed yet. */
  readonly paused: boolean
}

export interface NodeControl {
  /** SIGKILL, resolves once the process has exited. */
  kill(node: RedisNode): Promise<void>
  /** SIGSTOP: the process keeps its sockets open but answers nothing (a hung server). */
  pause(node: RedisNode): void
  /** SIGCONT */
  resume(node: RedisNode): void
  /** Starts the node again on the same port, dir and config file (killing it first if it runs); waits for PING. */
  restart(node: RedisNode): Promise<void>
  /** Everything down, temp dir removed; idempotent. */
  stop(): Promise<void>
}

export interface NodeSpec {
  kind: 'redis' | 'sentinel'
  host: string
  port: number
  dir: string
  binary: string
  configFile: string
  args: string[]
  /** How the testkit itself authenticates to this node. */
  auth: RespOptions
}

/** A server process the testkit started. Only these are ever signalled. */
export class ManagedNode implements RedisNode {
  readonly id: string
  readonly host: string
  readonly port: number
  readonly kind: 'redis' | 'sentinel'
  readonly dir: string
  readonly spec: NodeSpec
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #paused = false

  constructor(spec: NodeSpec) {
    this.spec = spec
    this.id = `${spec.kind}:${spec.port}`
    this.host = spec.host
    this.port = spec.port
    this.kind = spec.kind
    this.dir = spec.dir
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }
  /** Process running and not paused: safe to send commands to. */
  get responsive(): boolean {
    return this.#child !== undefined && !this.#paused
  }
  get running(): boolean {
    return this.#child !== undefined
  }
  get paused(): boolean {
    return this.#paused
  }

  /** Spawns the server and waits until it answers PING. */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.#child) return
    const { binary, configFile, args, dir } = this.spec
    const errFile = join(dir, `${this.kind}-stderr.log`)
    const errFd = openSync(errFile, 'a')
    let child: ChildProcess
    try {
      // stdio to a file, not a pipe, and unref: a forgotten topology never keeps the test runner alive
      // (the exit hook and the watchdog still take it down).
      child = spawn(binary, [configFile, ...args], { cwd: dir, stdio: ['ignore', errFd, errFd] })
    } finally {
      closeSync(errFd)
    }
    child.unref()
    const pid = child.pid
    if (pid === undefined) {
      await new Promise((resolve) => child.once('error', resolve).once('exit', resolve))
      throw new Error(`@tiercache/testkit: could not spawn ${binary}`)
    }
    this.#child = child
    this.#paused = false
    let exitCode: number | null | undefined
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null)
        if (this.#child === child) {
          this.#child = undefined
          this.#paused = false
        }
        registry.remove(pid)
        resolve()
      })
    })
    registry.add(pid, basename(binary))

    try {
      await waitUntil(
        async () => {
          if (exitCode !== undefined) throw new StartError(this.#diagnose(errFile))
          try {
            return (
              (await command(this.host, this.port, ['PING'], { ...this.spec.auth, timeoutMs: 1_000 })) ===
              'PONG'
            )
          } catch (error) {
            if (error instanceof RespError && /NOAUTH|WRONGPASS|NOPERM/.test(error.code)) throw error
            return false
          }
        },
        { timeoutMs, what: `${this.id} to answer PING`, intervalMs: 20 },
      )
    } catch (error) {
      await this.kill()
      throw error
    }
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (!child?.pid) return
    // Children are unref'd; while we wait for this one's exit it must hold the event loop, or a script
    // with nothing else pending ends (exit code 13, unsettled top-level await) before stop() resolves.
    child.ref()
    signal(child.pid, 'SIGCONT')
    signal(child.pid, 'SIGKILL')
    await this.#exited
  }

  pause(): void {
    const pid = this.#child?.pid
    if (pid === undefined) throw new Error(`@tiercache/testkit: ${this.id} is not running`)
    signal(pid, 'SIGSTOP')
    this.#paused = true
  }

  resume(): void {
    const pid = this.#child?.pid
    if (pid === undefined) throw new Error(`@tiercache/testkit: ${this.id} is not running`)
    signal(pid, 'SIGCONT')
    this.#paused = false
  }

  async restart(timeoutMs?: number): Promise<void> {
    await this.kill()
    await this.start(timeoutMs)
  }

  /** Runs a command against this node with the testkit's credentials. */
  command(args: ReadonlyArray<string | number>, timeoutMs = 2_000) {
    return command(this.host, this.port, args, { ...this.spec.auth, timeoutMs })
  }

  #diagnose(errFile: string): string {
    const tail = (file: string) => {
      try {
        return readFileSync(file, 'utf8').trim().split('\n').slice(-8).join('\n')
      } catch {
        return ''
      }
    }
    const log = [tail(errFile), tail(join(this.dir, `${this.kind}.log`))].filter(Boolean).join('\n')
    return `@tiercache/testkit: ${this.id} exited during startup${log ? `:\n${log}` : ''}`
  }
}

/** Raised when a server process exits before it became ready (e.g. its port was taken meanwhile). */
export class StartError extends Error {
  override name = 'StartError'
  get portInUse(): boolean {
    return /Address already in use|bind/i.test(this.message)
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

export async function waitUntil<T>(
  probe: () => Promise<T | false | undefined>,
  opts: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== false && value !== undefined) return value
    } catch (error) {
      // A dead process or bad credentials will not get better; anything else (LOADING, refused, …) may.
      if (
        error instanceof StartError ||
        (error instanceof RespError && /NOAUTH|WRONGPASS|NOPERM/.test(error.code))
      )
        throw error
      lastError = error
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(
        `@tiercache/testkit: timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${cause}`,
      )
    }
    await sleep(opts.intervalMs ?? 100)
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------
// Cleanup: a per-process temp root, an exit hook, and a detached watchdog for when we are SIGKILLed.

// Plain CommonJS run with `node -e`, so no file has to be found from either src/ (tests) or dist/.
// It polls the parent every 500 ms; once the parent is gone it SIGCONTs + SIGKILLs the pids listed in
// the state file (only if /proc still shows the same program) and removes the temp root.
const WATCHDOG = `
const fs = require('node:fs')
const [parent, stateFile, root] = [Number(process.argv[1]), process.argv[2], process.argv[3]]
const parentGone = () => {
  if (process.ppid !== parent) return true
  try { process.kill(parent, 0); return false } catch (e) { return e.code === 'ESRCH' }
}
const sweep = () => {
  let state = { pids: [] }
  try { state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) } catch {}
  for (const { pid, match } of state.pids) {
    try { if (!fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').includes(match)) continue } catch {}
    try { process.kill(pid, 'SIGCONT') } catch {}
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  try { fs.rmSync(root, { recursive: true, force: true }) } catch {}
}
setInterval(() => {
  if (parentGone()) { sweep(); process.exit(0) }
  if (!fs.existsSync(stateFile)) process.exit(0)
}, 500)
`

class Registry {
  #root: string | undefined
  #stateFile = ''
  #pids = new Map<number, string>()
  #watchdogPid: number | undefined

  /** The per-process temp root (created lazily, with the exit hook and watchdog). */
  get root(): string {
    if (!this.#root) {
      this.#root = mkdtempSync(join(tmpdir(), `tiercache-testkit-${process.pid}-`))
      this.#stateFile = join(this.#root, 'watchdog.json')
      this.#write()
      process.on('exit', () => this.#cleanupSync())
      this.#startWatchdog()
    }
    return this.#root
  }

  get watchdogPid(): number | undefined {
    return this.#watchdogPid
  }

  /** A fresh folder for one topology under the temp root. */
  makeDir(prefix: string): string {
    const dir = mkdtempSync(join(this.root, `${prefix}-`))
    mkdirSync(dir, { recursive: true })
    return dir
  }

  add(pid: number, match: string): void {
    this.#pids.set(pid, match)
    this.#write()
  }

  remove(pid: number): void {
    if (this.#pids.delete(pid)) this.#write()
  }

  #write(): void {
    if (!this.#root) return
    const pids = [...this.#pids].map(([pid, match]) => ({ pid, match }))
    try {
      writeFileSync(`${this.#stateFile}.tmp`, JSON.stringify({ pids }))
      renameSync(`${this.#stateFile}.tmp`, this.#stateFile) // atomic: the watchdog never reads half a file
    } catch {
      // root removed during exit
    }
  }

  #startWatchdog(): void {
    try {
      const child = spawn(
        process.execPath,
        ['-e', WATCHDOG, String(process.pid), this.#stateFile, this.#root!],
        {
          detached: true,
          stdio: 'ignore',
        },
      )
      child.unref()
      this.#watchdogPid = child.pid
    } catch {
      // cleanup then relies on stop() and the exit hook alone
    }
  }

  #cleanupSync(): void {
    for (const pid of this.#pids.keys()) {
      signal(pid, 'SIGCONT')
      signal(pid, 'SIGKILL')
    }
    this.#pids.clear()
    if (this.#root) rmSync(this.#root, { recursive: true, force: true })
  }
}

export const registry = new Registry()

/**
 * Starts nodes built from fresh ports; when a port was grabbed by someone else between probing and
 * binding, `build` is called again for a new port.
 */
export async function startWithPortRetry(
  build: () => Promise<ManagedNode>,
  attempts = 4,
): Promise<ManagedNode> {
  for (let i = 1; ; i++) {
    const node = await build()
    try {
      await node.start()
      return node
    } catch (error) {
      if (!(error instanceof StartError && error.portInUse) || i >= attempts) throw error
    }
  }
}
