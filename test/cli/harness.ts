/** The CLI (cli/main.ts) over an in-process broker, with its output captured and files to hand it. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run } from '../../cli/main.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { createClient } from '../../core/client/client.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'

export function cliHarness() {
  const broker = new LocalBroker({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  const connect = () => createClient(broker, { onClose: async () => {} })
  const dir = mkdtempSync(join(tmpdir(), 'edgelog-cli-files-'))
  return {
    broker,
    /** A file holding `json` (a value, written as JSON, or text as it is). */
    file(json: unknown) {
      const path = join(dir, `f-${Math.random().toString(36).slice(2)}.json`)
      writeFileSync(path, typeof json === 'string' ? json : JSON.stringify(json))
      return path
    },
    async cli(argv: string[]) {
      const out: string[] = []
      const err: string[] = []
      const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l), lines: async function* () {} }, connect)
      return { code, out, err }
    },
  }
}
