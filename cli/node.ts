/** The Node entry of `npx edgelog`: wires the tools to stdin/stdout and the HTTP client. */
import { createInterface } from 'node:readline'
import { connect } from '../adapters/http/index.ts'
import { run } from './main.ts'

const controller = new AbortController()
process.once('SIGINT', () => controller.abort())
const code = await run(process.argv.slice(2), {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  lines: () => createInterface({ input: process.stdin, crlfDelay: Infinity }),
  signal: controller.signal,
}, connect, process.env)
process.exit(code)
