import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Quotes a value for a redis.conf line (double quotes, backslash escapes). */
export const q = (value: string | number) => JSON.stringify(String(value))

/** Settings every node shares: loopback only, no persistence, logs in its own folder. */
export function baseConfig(opts: { port: number; dir: string; logfile: string }): string[] {
  return [
    `port ${opts.port}`,
    'bind 127.0.0.1',
    `dir ${q(opts.dir)}`,
    `logfile ${q(join(opts.dir, opts.logfile))}`,
    'daemonize no',
    `save ""`,
    'appendonly no',
    // the default 5 s wait for more replicas before a diskless full sync would dominate every startup
    'repl-diskless-sync-delay 0',
  ]
}

export function writeConfig(dir: string, file: string, lines: string[]): string {
  const path = join(dir, file)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}
