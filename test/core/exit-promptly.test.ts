/**
 * A Node script that disconnects its producer and group consumer ends right away: no timer
 * (parked long poll, heartbeat, backoff) and no socket outlives `disconnect()`. The script
 * (test/fixtures/exit-promptly.ts) runs in its own process and prints when disconnect
 * resolved; the process must exit on its own, within 1.5 s of that (it took ~5 s, the consumer's
 * maxWaitTimeInMs, when parked fetches were left behind). In memory, and over HTTP against a
 * local server (undici's idle keep-alive sockets do not hold a process: measured, ~20 ms).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalHttpServer, type LocalHttpServer } from '../http/local-http-server.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SCRIPT = 'test/fixtures/exit-promptly.ts'
const LIMIT_MS = 1_500

/** Runs the script; answers how long after its disconnect resolved the process exited. */
function runScript(args: string[]): Promise<{ code: number | null; afterDisconnectMs: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('error', reject)
    child.once('exit', (code) => {
      const exitedAt = Date.now()
      clearTimeout(killer)
      const line = output.split('\n').find((l) => l.startsWith('{"disconnected"'))
      if (!line) return reject(new Error(`the script printed no disconnect time (exit ${code}):\n${output}`))
      const { disconnected, seen } = JSON.parse(line) as { disconnected: number; seen: number }
      expect(seen).toBe(30)
      resolve({ code, afterDisconnectMs: exitedAt - disconnected, output })
    })
  })
}

let server: LocalHttpServer
beforeAll(async () => { server = await startLocalHttpServer() })
afterAll(async () => { await server?.close() })

describe('a script ends promptly after disconnect', () => {
  const cases: Array<[string, () => string[]]> = [
    ['memory: consumer.disconnect() alone', () => ['memory']],
    ['memory: disconnect, then log.close()', () => ['memory', '--close']],
    ['HTTP: consumer.disconnect() alone', () => ['http', server.url]],
    ['HTTP: disconnect, then log.close()', () => ['http', server.url, '--close']],
  ]
  for (const [name, args] of cases) {
    it(name, { timeout: 40_000 }, async () => {
      const { code, afterDisconnectMs, output } = await runScript(args())
      expect(code, output).toBe(0)
      expect(afterDisconnectMs, output).toBeLessThan(LIMIT_MS)
    })
  }
})
