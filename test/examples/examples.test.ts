/**
 * The first five minutes, as a newcomer meets them: every TypeScript snippet of README.md is in a
 * file under examples/, those files type-check against the package as installed (`edgelog`
 * resolves to dist/, what `npm install` builds), the Node script runs with one command, the
 * Worker embedding createEdgelogApp() serves its own routes and edgelog's, and the README's
 * command-line walkthrough answers as documented. (The page example runs in Chromium:
 * test/browser/web-demo.test.ts.)
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../cli/main.ts'
import { createClient } from '../../core/client/client.ts'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { ROOT, startWranglerDev } from '../http/wrangler-dev.ts'

const exec = promisify(execFile)
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'node_modules' || name === 'dist') return []
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

beforeAll(async () => {
  // The examples import the package by name, as a user does: that is dist/ (built by npm install).
  if (!existsSync(join(ROOT, 'dist/core/index.js'))) await exec(process.execPath, ['scripts/build.mjs'], { cwd: ROOT })
}, 180_000)

describe('README snippets', () => {
  it('each TypeScript block is, as written, part of a file under examples/', () => {
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1].trim())
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    const sources = files(join(ROOT, 'examples')).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(f, 'utf8'))
    for (const block of blocks) expect(sources.some((s) => s.includes(block)), `README block not in examples/:\n${block}`).toBe(true)
  })

  it('the examples type-check against the package (the page and Node files, and the Worker)', async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    for (const project of ['examples/tsconfig.json', 'examples/worker/tsconfig.json']) {
      const result = await exec(process.execPath, [tsc, '-p', project], { cwd: ROOT }).catch((e) => e)
      expect(`${result.stdout ?? ''}${result.stderr ?? ''}`, project).toBe('')
    }
  }, 120_000)

  it('the Node script runs with one command and prints what README says', async () => {
    const { stdout } = await exec(join(ROOT, 'node_modules/.bin/tsx'), ['examples/node/quick-start.ts'], { cwd: ROOT, timeout: 60_000 })
    expect(stdout).toContain("topicName: 'email'")
    expect(stdout).toContain('partition: 1')
    expect(stdout.trim().split('\n').at(-1)).toBe('1 0 u1 hi')
  }, 60_000)

  it('the schemas script runs: an Avro record through the producer\'s serializer and the consumer\'s deserializer', async () => {
    const { stdout } = await exec(join(ROOT, 'node_modules/.bin/tsx'), ['examples/node/schemas.ts'], { cwd: ROOT, timeout: 60_000 })
    expect(stdout.trim()).toBe('book')
  }, 60_000)
})

describe('the Worker example (createEdgelogApp inside your own Worker)', () => {
  it('serves its own routes and edgelog\'s API under /v1', async () => {
    const persist = mkdtempSync(join(tmpdir(), 'edgelog-example-worker-'))
    const dev = await startWranglerDev(persist, { args: ['-c', 'examples/worker/wrangler.jsonc'] })
    try {
      expect(await (await fetch(`${dev.url}/`)).text()).toBe('mine')
      const created = await fetch(`${dev.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'email', partitions: 3 }) })
      expect(created.status).toBe(201)
      const produced = await fetch(`${dev.url}/v1/topics/email/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ key: 'u1', value: 'hi' }] }) })
      expect(await produced.json()).toEqual({ offsets: [{ partition: 1, offset: 0 }] })
    } finally {
      await dev.kill()
      rmSync(persist, { recursive: true, force: true })
    }
  }, 90_000)
})

describe("README's command-line walkthrough", () => {
  /** One in-process log shared by every command, as the server is. */
  const broker = new LocalBroker({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  async function cli(argv: string[], stdin: string[] = [], signal?: AbortSignal) {
    const out: string[] = []
    const err: string[] = []
    const code = await run(argv, {
      out: (l) => out.push(l), err: (l) => err.push(l), lines: async function* () { yield* stdin }, signal,
    }, () => createClient(broker, { onClose: async () => {} }))
    return { code, out, err }
  }

  it('hangs together: the consumer in group mailer makes the describe show mailer; an unknown group is an error', async () => {
    expect((await cli(['topics', '--create', '--topic', 'email', '--partitions', '3', '--replication-factor', '1'])).code).toBe(0)
    expect((await cli(['console-producer', '--topic', 'email', '--property', 'parse.key=true', '--property', 'key.separator=:'], ['u1:hi', 'u2:hello'])).code).toBe(0)
    // Runs until Ctrl-C: here, an abort once both records are printed.
    const ctrlC = new AbortController()
    const lines: string[] = []
    const running = run(['console-consumer', '--topic', 'email', '--group', 'mailer', '--from-beginning', '--property', 'print.key=true', '--property', 'print.partition=true'], {
      out: (l) => { lines.push(l); if (lines.length === 2) setTimeout(() => ctrlC.abort(), 1_500) }, err: () => {}, lines: async function* () {}, signal: ctrlC.signal,
    }, () => createClient(broker, { onClose: async () => {} }))
    expect(await running).toBe(0)
    expect(lines.map((l) => l.replace(/^Partition:\d+\t/, '')).sort()).toEqual(['u1\thi', 'u2\thello'])
    expect(lines.find((l) => l.includes('u1'))).toMatch(/^Partition:1\t/)

    const limited = await cli(['console-consumer', '--topic', 'email', '--from-beginning', '--max-messages', '2'])
    expect(limited.out.sort()).toEqual(['hello', 'hi'])
    expect(limited.err).toEqual(['Processed a total of 2 messages'])

    expect((await cli(['consumer-groups', '--list'])).out).toEqual(['mailer'])
    const described = await cli(['consumer-groups', '--describe', '--group', 'mailer'])
    expect(described.code).toBe(0)
    expect(described.out[0]).toMatch(/^GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG/)
    const rows = described.out.slice(1).map((l) => l.split(/\s+/).slice(0, 6))
    expect(rows.every((r) => r[0] === 'mailer' && r[1] === 'email' && r[5] === '0')).toBe(true)
    expect(rows.reduce((n, r) => n + Number(r[4]), 0)).toBe(2)
    expect(described.err).toEqual(["Consumer group 'mailer' has no active members."])

    const missing = await cli(['consumer-groups', '--describe', '--group', 'nobody'])
    expect(missing.code).toBe(1)
    expect(missing.out).toEqual([])
    expect(missing.err).toEqual(["Error: Consumer group 'nobody' does not exist."])
  }, 30_000)
})
