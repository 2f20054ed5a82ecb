// `pnpm demo` runs this file (after `tsc -b`): the quickstart demo, printed to the console.
import { runDemo } from './demo.js'

await runDemo()
