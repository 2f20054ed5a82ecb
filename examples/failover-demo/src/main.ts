// `pnpm --filter @tiercache/example-failover-demo start -- --topology cluster`: the failover demo in a
// terminal. Exit code 0 iff no call reached its caller as an error.
import { runFailoverDemo } from './failover-demo.js'
import { parseDemoArgs, USAGE } from './options.js'

let options: ReturnType<typeof parseDemoArgs>
try {
  options = parseDemoArgs(process.argv.slice(2))
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
  process.exit(2)
}
if (options === undefined) {
  console.log(USAGE)
  process.exit(0)
}

// Ctrl-C ends the traffic early but still prints the summary and stops every server it started.
const controller = new AbortController()
process.once('SIGINT', () => controller.abort())

const summary = await runFailoverDemo({ ...options, signal: controller.signal })
const code = summary.errors === 0 ? 0 : 1
process.exitCode = code
// Everything is closed and stopped by now; a handle someone left open must not keep the terminal waiting.
setTimeout(() => {
  console.error('(still running 5 s after the summary: an open handle was left behind; exiting)')
  process.exit(code)
}, 5_000).unref()
